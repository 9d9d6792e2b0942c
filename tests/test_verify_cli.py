"""``synthaug verify``: re-checks stored evidence; tampered evidence is caught."""

from __future__ import annotations

import asyncio
import copy
import json

from conftest import run_cli, write_jsonl

from synthaug.verify import evidence
from synthaug.verify.code import run_tests
from synthaug.verify.evidence import answer_verdict, program_verdict
from synthaug.verify.sandbox import Sandbox


def _records() -> list[dict]:
    sandbox = Sandbox()
    program = "total = 4 * 12 + 3\nprint(total)"
    solution, tests = "def double(x):\n    return 2 * x", "assert double(4) == 8"
    return [
        {"id": 1, "verification": answer_verdict("4 * 12 = 48\n#### 48", "48")},
        {"id": 2, "verification": answer_verdict("The answer is 47.", "48")},
        {"id": 3, "verification": program_verdict(program, "51", sandbox.run_sync(program))},
        {
            "id": 4,
            "verification": evidence.tests_verdict(
                solution, tests, asyncio.run(run_tests(sandbox, solution, tests))
            ),
        },
        {"id": 5, "text": "no evidence here"},
    ]


def test_verify_agrees_on_honest_evidence_and_catches_tampering(tmp_path):
    records = _records()
    assert [r.get("verification", {}).get("verified") for r in records] == [
        True, False, True, True, None,
    ]  # fmt: skip
    honest = write_jsonl(tmp_path / "honest.jsonl", records)
    result = run_cli("verify", str(honest), "--json", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["checked"] == 4 and report["agreed"] == 4 and report["agreement"] == 1.0
    assert set(report["by_kind"]) == {"answer", "program", "tests"}

    tampered = copy.deepcopy(records)
    tampered[1]["verification"]["verified"] = True  # a wrong answer claimed correct
    tampered[2]["verification"]["code"] = "print(50)"  # the program no longer prints 51
    tampered[3]["verification"]["tests"] = "assert double(4) == 9"
    bad = write_jsonl(tmp_path / "tampered.jsonl", tampered)
    result = run_cli("verify", str(bad), "--quiet", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.count("disagrees:") == 3


def test_verify_bad_input_is_one_line_exit_2(tmp_path):
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"text": "x"}])
    result = run_cli("verify", str(plain), cwd=tmp_path)
    assert result.returncode == 2 and "no record has a 'verification' field" in result.stderr
    broken = write_jsonl(tmp_path / "broken.jsonl", [{"verification": {"kind": "answer"}}])
    result = run_cli("verify", str(broken), "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    missing = run_cli("verify", str(tmp_path / "nope.jsonl"), cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
