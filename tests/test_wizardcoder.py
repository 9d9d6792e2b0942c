"""WizardCoder (Code Evol-Instruct): the code prompt and methods, the sandbox check of
answers, and the recipe end to end on the embedded model."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_recipe_twice, summary_of

from synthaug.engine.resources import RunResources
from synthaug.engine.step import StepContext
from synthaug.methods.instruct.evol_instruct import OPERATIONS, cheap_elimination
from synthaug.methods.instruct.seeds import Seeds
from synthaug.methods.instruct.wizardcoder import CODE_METHODS, CodeEvolve, code_evolution_prompt
from synthaug.recipe import build_pipeline, load_recipe
from synthaug.verify.sandbox import Sandbox

# an answer with a fenced Python block and prose around it, as chat models reply
ANSWER = (
    "Here is the function:\n```python\ndef count_vowels(text):\n"
    '    return sum(1 for ch in text.lower() if ch in "aeiou")\n\n'
    'print(count_vowels("Hello"))\n```'
)


def test_code_prompt_has_the_papers_five_methods_and_no_deepening_or_breadth():
    assert set(CODE_METHODS) == {
        "add_constraints", "specific_requirement", "more_reasoning", "code_debugging",
        "complexity",
    }  # fmt: skip
    assert CodeEvolve().params.operations == list(CODE_METHODS)
    prompt = code_evolution_prompt("Reverse a string in Python.", "code_debugging")
    assert prompt.startswith("Please make the following programming test question")
    assert "erroneous code as a reference" in prompt
    assert prompt.rstrip().endswith("Reverse a string in Python.")
    for operation in CODE_METHODS:  # one unified template, only the method changes
        other = code_evolution_prompt("Reverse a string in Python.", operation)
        assert other.replace(CODE_METHODS[operation], "") == prompt.replace(
            CODE_METHODS["code_debugging"], ""
        )
    with pytest.raises(ValueError, match="known: add_constraints"):
        CodeEvolve(operations=["breadth"])  # in-breadth evolution is removed
    assert "breadth" in OPERATIONS  # Evol-Instruct itself keeps it


def test_answers_code_runs_in_the_sandbox_and_require_eliminates_failures():
    ctx = StepContext(
        llm=None, run_seed=0, step_name="evolve", resources=RunResources(sandbox=Sandbox())
    )
    step = CodeEvolve()
    checks = asyncio.run(step.checked(ANSWER, ctx))
    verdict = checks["verification"]
    assert verdict["kind"] == "tests" and verdict["verified"]
    assert verdict["execution"]["stdout"] == "2\n" and step.eliminated(checks) is None
    failing = asyncio.run(step.checked("```python\nprint(1 / 0)\n```", ctx))
    assert not failing["verification"]["verified"]
    assert failing["verification"]["execution"]["status"] == "error"
    prose = asyncio.run(step.checked("Use a loop.", ctx))
    assert prose == {"verification": None}
    strict = CodeEvolve(verify="require")
    assert strict.eliminated(failing) == "code_failed" and strict.eliminated(prose) == (
        "no_python_code"
    )
    assert strict.eliminated(checks) is None
    assert asyncio.run(CodeEvolve(verify="none").checked(ANSWER, ctx)) == {}


def test_seeds_are_the_code_tasks_and_the_recipe_decontaminates_humaneval_mbpp():
    async def rows():
        ctx = StepContext(llm=None, run_seed=0, step_name="seeds")
        return [row async for row in Seeds(builtin="code_alpaca").rows(ctx)]

    seeds = asyncio.run(rows())
    assert len(seeds) == 20 and seeds[0]["instruction"].startswith("Complete the following Python")
    pipeline = build_pipeline(load_recipe("wizardcoder"))
    methods = [step.method for step in pipeline.steps]
    assert methods[:2] == ["seed_tasks", "wizardcoder.evolve"]
    decontaminate = [s for s in pipeline.steps if s.method == "decontaminate"]
    assert {s.params.mode for s in decontaminate} == {"substring", "overlap"}
    assert all(set(s.params.benchmarks) == {"humaneval", "mbpp"} for s in decontaminate)


def test_wizardcoder_recipe_end_to_end(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "wizardcoder",
        "--limit",
        "1",
        "--set",
        "steps[1].params.rounds=1",
        "--set",
        "steps[1].params.max_tokens=64",
        "--set",
        "steps[1].params.answer_max_tokens=96",
    )
    summary = summary_of(tmp_path / "data.jsonl")
    evolve = summary["steps"][1]
    assert evolve["rows_in"] == 1 and evolve["rows_out"] >= len(records)
    seed = records[0]
    assert "evol_round" not in seed and seed["instruction"].startswith("Complete the following")
    for record in records[1:]:
        assert record["evol_operation"] in CODE_METHODS and record["evol_round"] == 1
        assert record["_meta"]["method"] == "wizardcoder.evolve"
        assert cheap_elimination(record["instruction"], record["output"]) is None
        verdict = record["verification"]
        assert verdict is None or (
            verdict["kind"] == "tests"
            and verdict["verified"] == (verdict["execution"]["status"] == "ok")
        )
    eliminated = [r for record in records[1:] for r in record["evol_eliminated"]]
    assert (
        len(records) - 1 + len(eliminated) + len(records[-1].get("evol_eliminated_after", [])) == 1
    )
