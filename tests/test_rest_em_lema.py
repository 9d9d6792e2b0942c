"""ReST-EM (rounds, next backend, improve hook) and LEMA (mistake corrections) on the embedded model."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest
from conftest import run_cli, run_recipe_twice
from pydantic import ValidationError

from synthaug.methods.reasoning.lema import correction_schema, parse_correction, solution_steps
from synthaug.methods.reasoning.rest_em import Iterate, IterateParams
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

# A real sampled solution of the embedded SmolLM2-135M (lema_solve.j2, temperature 0.8) for
# gsm_symbolic_0_0 (gold 220), and its real corrector reply under the correction schema with
# the old 400/1000-character bounds and max_tokens 400: cut off, so it does not parse.
REAL_WRONG = (
    "41. To solve this problem, I'll break it down step by step:\n\n1. I'll start by assigning "
    "a time to each step. So, I'll start with 1 minute for the first step and 20 minutes for "
    "the second.\n\n2. Now that I have the two parts of the problem, I'll work backwards. So, "
    "I'll start by adding the total number of steps to the time I'll need to solve the "
    "problem. So, I'll add 1 + 20 = 20 minutes to 1 minute.\n\n3. Now, I'll add 1 for the "
    "second part of the problem. So, I'll add 20 + 20 = 40 minutes to 1 minute.\n\nThe answer "
    "is 11. The answer is 11."
)
REAL_CUT_OFF_REPLY = (
    '{\n\n"incorrect_step": 1,\n"explanation": "The answer is 11. The answer is 11. The answer '
    'is 11. The ","corrected_solution"\n\n:\n\n"The answer is 11. The answer is 11. The answer is'
)
HOOK = '''
import json
from pathlib import Path


def finetune(path):
    """Stands in for fine-tuning: logs which file it got and how many records it held."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    with open("hook_calls.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"path": str(path), "records": len(lines)}) + "\\n")
'''


def test_rest_em_params_and_backend_names():
    step = Iterate(rounds=3, next_backend=["tuned", None])
    assert step.backend_names() == {"next_backend[0]": "tuned"}
    assert [step.round_backend(r) for r in range(3)] == ["default", "tuned", "default"]
    defaults = IterateParams()
    assert (defaults.k, defaults.max_per_question, defaults.temperature) == (32, 10, 1.0)
    with pytest.raises(ValidationError, match="only 1 rounds follow"):
        IterateParams(rounds=2, next_backend=["a", "b"])
    with pytest.raises(ValidationError, match="module:function"):
        IterateParams(improve="not a hook")
    with pytest.raises(ValidationError, match="improve needs rounds_dir"):
        IterateParams(improve="mytrain:finetune")


def test_rest_em_unknown_next_backend_is_a_recipe_error(tmp_path):
    bad = run_cli("run", "rest_em", "--set", "steps[1].params.next_backend=[nope]", cwd=tmp_path)
    assert bad.returncode == 2
    assert "steps[1].params.next_backend[0]: no backend 'nope'" in bad.stderr


def test_rest_em_rounds_next_backend_and_improve_hook(tmp_path):
    (tmp_path / "hook.py").write_text(HOOK, encoding="utf-8")
    records = run_recipe_twice(
        tmp_path,
        "rest_em",
        "--limit", "2",
        "--set", "backends.tuned.parallel=2",
        "--set", "steps[1].params.next_backend=[tuned]",
        "--set", "steps[1].params.improve=hook:finetune",
        "--set", "steps[1].params.rounds_dir=rounds",
        "--set", "steps[1].params.keep_failed=true",
        "--set", "steps[1].params.k=2",
        "--set", "steps[1].params.samples_per_call=2",
        "--set", "steps[1].params.max_tokens=40",
    )  # fmt: skip
    assert len(records) == 2 * 2 * 2  # questions x rounds x samples (all kept: keep_failed)
    by_round: dict[int, list[dict]] = defaultdict(list)
    for record in records:
        by_round[record["round"]].append(record)
        assert record["rest_em_backend"] == ("default" if record["round"] == 0 else "tuned")
        assert asyncio.run(reverify(record["verification"], Sandbox()))
        assert record["verification"]["text"] == record["response"]
        assert len(record["_meta"]["request"]) == 1 and record["_meta"]["parents"]
    assert sorted(by_round) == [0, 1]
    for number, group in by_round.items():
        per_question: dict[str, list[dict]] = defaultdict(list)
        for record in group:
            per_question[record["_meta"]["parents"][0]].append(record)
        for samples in per_question.values():
            counts = samples[0]["rest_em_counts"]
            verified = sum(r["verification"]["verified"] for r in samples)
            assert counts == {"samples": 2, "correct": verified, "kept": verified}
        kept_file = (tmp_path / "rounds" / f"round-{number}.jsonl").read_text().splitlines()
        assert len(kept_file) == sum(r["verification"]["verified"] for r in group)
        stats = json.loads((tmp_path / "rounds" / f"round-{number}.stats.json").read_text())
        assert stats["samples"] == 4 and stats["questions"] == 2
        assert stats["dropped"]["wrong_answer"] == 4 - stats["correct"]
    calls = [json.loads(line) for line in (tmp_path / "hook_calls.jsonl").open()]
    assert len(calls) == 2  # once between the two rounds, in each of the two runs
    assert all(c["path"].endswith("rounds/round-0.jsonl") for c in calls)
    assert calls[0] == calls[1]
    assert len({r["_meta"]["id"] for r in records}) == len(records)


def test_lema_steps_schema_and_real_replies():
    steps = solution_steps(REAL_WRONG)
    assert len(steps) == 5 and steps[0].startswith("41. To solve") and steps[-1].endswith("11.")
    assert solution_steps("First 2 + 2 = 4. Then 4 * 3 = 12. The answer is 12.") == [
        "First 2 + 2 = 4.",
        "Then 4 * 3 = 12.",
        "The answer is 12.",
    ]
    schema = correction_schema(len(steps), 60, 120)
    assert schema["properties"]["incorrect_step"]["enum"] == [1, 2, 3, 4, 5]
    assert schema["properties"]["corrected_solution"]["maxLength"] == 120
    assert parse_correction(REAL_CUT_OFF_REPLY, len(steps)) is None
    good = json.dumps(
        {
            "incorrect_step": 2,
            "explanation": "adds instead.",
            "corrected_solution": "The answer is 3.",
        }
    )
    assert parse_correction(good, 5)["incorrect_step"] == 2
    assert parse_correction(good, 1) is None  # step 2 of a one-step solution


def test_lema_recipe_corrections_are_checked_on_the_corrected_solution(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "lema",
        "--limit", "2",
        "--set", "backends.fixer.parallel=2",
        "--set", "steps[1].params.corrector_backend=fixer",
        "--set", "steps[1].params.samples=2",
        "--set", "steps[1].params.max_tokens=40",
        "--set", "steps[1].params.corrector_max_tokens=120",
        "--set", "steps[1].params.explanation_chars=60",
        "--set", "steps[1].params.solution_chars=120",
        "--set", "steps[1].params.keep_failed=true",
    )  # fmt: skip
    errors_path = tmp_path / "data.errors.jsonl"
    errors = [json.loads(line) for line in errors_path.open()] if errors_path.exists() else []
    kinds = {e["_meta"]["error"]["kind"] for e in errors}
    assert kinds <= {"no_wrong_solution", "unparseable_correction"}  # keep_failed keeps the rest
    per_question = defaultdict(int)
    for row in records + errors:
        per_question[row["_meta"]["parents"][0]] += 1
    assert len(per_question) == 2 and all(1 <= n <= 2 for n in per_question.values())
    for record in records:
        steps = solution_steps(record["wrong_solution"])
        assert record["mistake_step"] == steps[record["mistake_step_number"] - 1]
        assert record["verification"]["text"] == record["corrected_solution"]
        assert asyncio.run(reverify(record["verification"], Sandbox()))
        assert record["verification"]["verified"] == ("failure" not in record)
        assert len(record["_meta"]["request"]) == 2 and record["_meta"]["corrector_model"]
        assert len(record["explanation"]) <= 60 and len(record["corrected_solution"]) <= 120
