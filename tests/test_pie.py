"""PIE: the significance rule, the sandbox's equivalence and timing checks on real runs,
re-verification from the evidence, and the recipe end to end on the embedded model."""

from __future__ import annotations

import asyncio

from conftest import read_jsonl, run_recipe_twice, summary_of

from synthaug.engine.resources import RunResources
from synthaug.engine.step import StepContext
from synthaug.methods.code.pie import Edit, load_programs, timing_program
from synthaug.recipe import build_pipeline, load_recipe
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox
from synthaug.verify.speedup import mann_whitney_greater, speedup_test

FIB_MEMO = (
    "from functools import lru_cache\n\n\n@lru_cache(maxsize=None)\ndef fib(n):\n"
    "    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n"
)
FIB_WRONG = "def fib(n):\n    return n\n"
FIB_SLOWER = (
    "def fib(n):\n    if n < 2:\n        return n\n    return sum([fib(n - 1), fib(n - 2)])\n"
)


def test_mann_whitney_one_sided_p_values():
    # hand-computed: every slow time above every fast one, 5 and 5: U = 25, z = 2.5067
    assert round(mann_whitney_greater([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]), 4) == 0.0061
    assert mann_whitney_greater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) > 0.99
    assert mann_whitney_greater([1.0] * 5, [1.0] * 5) == 1.0  # all tied: no evidence
    # a large but noisy ratio is not enough, nor a significant but small one
    assert not speedup_test([1.0, 9.0, 1.0], [0.5, 0.5, 8.0], 1.1, 0.05)["significant"]
    small = speedup_test([1.05 + i / 1000 for i in range(9)], [1.0] * 9, 1.1, 0.05)
    assert small["p_value"] < 0.05 and not small["significant"]
    fast = speedup_test(
        [2.0 + i / 100 for i in range(7)], [1.0 + i / 100 for i in range(7)], 1.1, 0.05
    )
    assert fast["significant"] and fast["speedup"] == round(2.03 / 1.03, 4)


def test_edits_are_kept_only_when_equivalent_and_significantly_faster():
    sandbox = Sandbox()
    ctx = StepContext(
        llm=None, run_seed=0, step_name="edit", resources=RunResources(sandbox=sandbox)
    )
    row = next(p for p in load_programs() if p["name"] == "fib")
    step = Edit()

    async def checks():
        _, expected = await sandbox.call_function(row["program"], "fib", row["inputs"], 5.0)
        return expected, [
            await step.check(row, code, expected, ctx) for code in (FIB_WRONG, FIB_SLOWER, FIB_MEMO)
        ]

    expected, (wrong, slower, memo) = asyncio.run(checks())
    assert [o["return"] for o in expected] == [0, 1, 55, 317811]
    assert wrong.startswith("not_equivalent")
    assert slower.startswith("not_faster")  # equivalent, but slower
    assert memo["speedup"] >= 1.1 and memo["p_value"] < 0.05 and memo["significant"]
    assert len(memo["original_s"]) == len(memo["edited_s"]) == step.params.repeats
    assert memo["outputs"] == expected and memo["code"] == FIB_MEMO
    verification = {"kind": "speedup", "verified": True, **memo}
    assert asyncio.run(reverify(verification, sandbox))
    assert not asyncio.run(reverify({**verification, "code": FIB_WRONG}, sandbox))
    assert not asyncio.run(reverify({**verification, "speedup": 9.0}, sandbox))


def test_timing_runs_are_distinct_programs_calling_every_input():
    row = load_programs()[0]
    first, second = (
        timing_program(row["program"], "fib", row["inputs"], run, "p1") for run in (0, 1)
    )
    assert first != second and first.startswith(row["program"].rstrip())
    other_pair = timing_program(row["program"], "fib", row["inputs"], 0, "p2")
    assert other_pair != first  # an original is timed afresh beside each edit
    assert "fib(**_arguments)" in first and '\\"n\\": 28' in first
    pipeline = build_pipeline(load_recipe("pie"))
    decontaminate = [s for s in pipeline.steps if s.method == "decontaminate"]
    assert {s.params.mode for s in decontaminate} == {"substring", "overlap"}


def test_pie_recipe_end_to_end(tmp_path):
    # the embedded 135M model rarely writes a correct faster program: what the test pins is
    # that every attempt is judged by the sandbox and each kept record carries its evidence
    records = run_recipe_twice(
        tmp_path, "pie", "--limit", "1", "--set", "steps[1].params.attempts=2",
        "--set", "steps[1].params.max_tokens=160",
    )  # fmt: skip
    edit = summary_of(tmp_path / "data.jsonl")["steps"][1]
    assert edit["rows_in"] == 1 and edit["rows_out"] + sum(edit["errors"].values()) == 1
    assert set(edit["errors"]) <= {"no_faster_edit"}
    errors = tmp_path / "data.errors.jsonl"
    for failed in read_jsonl(errors) if errors.exists() else []:
        message = failed["_meta"]["error"]["message"]
        assert message.count("attempt ") == 2  # why each of the 2 attempts failed
    for record in records:
        assert record["speedup"] >= 1.1 and record["verification"]["kind"] == "speedup"
        assert asyncio.run(reverify(record["verification"], Sandbox()))
