"""MathInstruct / MAmmoTH: CoT, PoT (run in the sandbox) and hybrid rationales, answer-checked."""

from __future__ import annotations

import asyncio
import json

from conftest import run_cli, run_recipe_twice, summary_of

from synthaug.methods.reasoning.mathinstruct import (
    POT_TRIGGER,
    RationaleParams,
    extract_program,
    failure_kind,
    majority,
)
from synthaug.verify.evidence import answer_verdict, program_verdict, reverify
from synthaug.verify.math_answer import check_answer
from synthaug.verify.sandbox import Sandbox

# Real replies of the embedded SmolLM2-135M to the mathinstruct_cot.j2 / _pot.j2 prompts
# (temperature 0) for the first two built-in problems (gold answers 220 and 56).
REAL_COT = [
    "To solve this problem, we need to break it down step by step. First, we need to calculate "
    "the time it takes Emma to peel and saute 120 clams.\n\nEmma can peel 120 clams in 8 "
    "minutes. So, 120 * 8 = 960 minutes.\n\nNow, we need to find out how long it takes Emma to "
    "peel and saute 120 clams.\n\nTo do this, we need to divide 960 by 120, which gives us "
    "0.96.\n\nSo, 0.96 * 120 = 120 minutes.\n\nThe answer is 120.\n\nThe answer is 120.",
    "To solve this problem, we need to break it down step by step. First, we need to calculate "
    "the time it takes for Isabella to peel and saute 240 mushrooms.\n\nWe can calculate the "
    "time it takes to peel and saute 240 mushrooms as follows:\n1. 240 mushrooms are peeled "
    "and sauted in 20 minutes.\n2. 240 mushrooms are peeled and sauted in 20 minutes.\n3. 240 "
    "+ 20 = 440 minutes are left to finish the task.\n\nNow, we can calculate the time it "
    "takes to finish the task by dividing the total time by the number of minutes:\nTime = 440 "
    "minutes / 20 minutes = 2.08 hours\n\nSo, it will take Isabella 2.08 hours to peel and "
    "saute 240 mushrooms.",
]
REAL_POT = [
    "```python\ndef peel_and_saute(cabbage, time):\n    time_cabbage = time * 2\n    "
    "time_cabbage = time_cabbage * 2\n    return time_cabbage, time_cabbage\n\ndef main():\n"
    '    time_cabbage = 10\n    time_cabbage = 10 * 2\n    print(f"Pipe of {time_cabbage} '
    'clams will take {time_cabbage} minutes to peel and saute.")\n\nmain()\n```\n\nThis program '
    "uses the `peel_and_saute` function to calculate the time it will take to peel and saute "
    "120 clams, and then prints the result.",
    "```python\ndef peel_and_saute(num):\n    time_to_peel = 20 * (num / 4)\n    time_to_saute "
    "= 20 * (num / 4)\n    time_to_peel_and_saute = time_to_peel * 2\n    return time_to_saute "
    '+ time_to_peel_and_saute\n\ndef main():\n    num = 10\n    print(f"The answer is '
    "{len(map(slice, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,",
]


def test_real_cot_replies_are_checked_against_gold():
    for text, gold in zip(REAL_COT, ["56", "220"], strict=True):
        verification = answer_verdict(text, gold)
        assert verification["kind"] == "answer" and verification["text"] == text
        assert verification["verified"] is False and failure_kind(verification) == "wrong_answer"
        assert verification["extracted"] == check_answer(text, gold)["extracted"]
    assert answer_verdict(REAL_COT[0], "120")["verified"]  # "The answer is 120."
    assert failure_kind(answer_verdict("", "5")) == "no_answer"


def test_program_extraction_from_real_and_bare_replies():
    first = extract_program(REAL_POT[0])
    assert first.startswith("def peel_and_saute") and first.endswith("main()")
    assert "This program uses" not in first
    cut_off = extract_program(REAL_POT[1])  # no closing fence: the reply was cut off
    assert cut_off.startswith("def peel_and_saute") and "print(f" in cut_off
    assert extract_program("x = 3\nprint(x * 4)") == "x = 3\nprint(x * 4)"
    assert extract_program("The answer is 12.") is None
    assert extract_program("```\nprint(1)\n```\n```python\nx = 2\n```") == "print(1)"


def test_programs_run_in_the_sandbox_and_verdicts_reverify():
    sandbox = Sandbox()

    async def go():
        good = "peel = 240 / 4\nbatches = 240 / 30\nprint(peel + batches * 20)"
        real = extract_program(REAL_POT[0])
        results = [await sandbox.run(code) for code in (good, real, extract_program(REAL_POT[1]))]
        verdicts = [
            program_verdict(code, "220", result)
            for code, result in zip(
                (good, real, extract_program(REAL_POT[1])), results, strict=True
            )
        ]
        return verdicts, [await reverify(v, sandbox) for v in verdicts]

    (good, real, broken), rechecked = asyncio.run(go())
    assert good["verified"] and good["extracted"] == "220.0"
    assert real["execution"]["status"] == "ok" and not real["verified"]
    assert failure_kind(real) == "wrong_answer"
    assert failure_kind(broken) == "program_error" and broken["extracted"] is None
    assert all(rechecked)


def test_majority_vote_groups_equal_answers():
    assert majority(["12", "12.0", "7", None, "7", "12"]) == ("12", 3)
    assert majority(["3", "4"]) == ("3", 1)  # a tie goes to the answer seen first
    assert majority([None, None]) == (None, 0)
    assert RationaleParams(samples=5).sampling_temperature == 0.7
    assert RationaleParams().sampling_temperature == 0.0


def _check_record(record: dict) -> None:
    verification = record["verification"]
    assert asyncio.run(reverify(verification, Sandbox()))
    if record["rationale_type"] == "pot":
        assert verification["kind"] == "program" and verification["code"] == record["output"]
        assert record["instruction"] == record["question"] + POT_TRIGGER
        assert record["source"] == "data/PoT/gsm_symbolic.json"
    else:
        assert verification["kind"] == "answer" and verification["text"] == record["output"]
        assert record["instruction"] == record["question"]
        assert record["source"] == "data/CoT/gsm_symbolic.json"


def test_hybrid_recipe_keeps_failed_rows_when_asked(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "mathinstruct",
        "--limit", "2",
        "--set", "steps[1].params.max_tokens=64",
        "--set", "steps[1].params.keep_failed=true",
    )  # fmt: skip
    assert len(records) == 2
    for record in records:
        _check_record(record)
        assert record["_meta"]["method"] == "mathinstruct.hybrid"
        if "pot_fallback" in record:  # the program did not execute: a CoT rationale instead
            assert record["rationale_type"] == "cot" and len(record["_meta"]["request"]) == 2
        else:
            assert record["rationale_type"] == "pot"
        assert record["verification"]["verified"] == ("failure" not in record)


def test_cot_self_consistency_drops_unchecked_rationales_and_counts_them(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "mathinstruct",
        "--limit", "2",
        "--set", "steps[1].method=mathinstruct.cot",
        "--set", "steps[1].params.samples=3",
        "--set", "steps[1].params.max_tokens=48",
    )  # fmt: skip
    out = tmp_path / "data.jsonl"
    errors_path = tmp_path / "data.errors.jsonl"
    errors = [json.loads(line) for line in errors_path.open()] if errors_path.exists() else []
    step = summary_of(out)["steps"][1]
    assert len(records) + len(errors) == 2 == step["rows_in"]
    assert sum(step["errors"].values()) == len(errors)
    for record in records + errors:
        vote = record["self_consistency"]
        assert vote["samples"] == 3 and len(vote["answers"]) == 3
        assert record["verification"]["extracted"] == vote["majority"]
        _check_record(record)
    for record in records:
        assert record["verification"]["verified"]
    for error in errors:
        assert not error["verification"]["verified"]
        assert error["_meta"]["error"]["kind"] in ("no_answer", "wrong_answer")
    bad = run_cli(
        "run", "mathinstruct",
        "--set", "steps[1].params.samples=3",
        "--set", "steps[1].params.temperature=0",
        cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "needs temperature > 0" in bad.stderr
