"""Self-play programming puzzles: parsing continuations, the two-process f(g()) check in
the sandbox, and the recipe end to end on the embedded model."""

from __future__ import annotations

import asyncio

import pytest
from conftest import read_jsonl, run_recipe_twice, summary_of

from synthaug.engine.step import RowError, StepContext
from synthaug.methods.code.puzzles import CHECK, Generate, Seeds, load_puzzles, parse_puzzle
from synthaug.recipe import build_pipeline, load_recipe
from synthaug.verify import evidence
from synthaug.verify.code import run_tests
from synthaug.verify.sandbox import Sandbox

# continuations after "def f6(" in the shape the prompt asks for
GOOD = (
    "n: int, k=7):\n    return n % k == 3 and n > 50\n\n"
    "def g6(k=7):\n    return 52 + (3 - 52 % k) % k\n"
)
CHEATING = (
    "x: int):\n    return x == 12345\n\n"
    "def g6():\n    global f\n    f = lambda x: True\n    return 0\n"
)


def _check(puzzle: str, solution: str):
    return asyncio.run(run_tests(Sandbox(), solution, puzzle + CHECK))


def test_every_seed_puzzle_is_solved_by_its_solution_in_the_sandbox():
    puzzles = load_puzzles()
    assert len(puzzles) == 12
    for item in puzzles:
        result = _check(item["puzzle"], item["solution"])
        assert result.ok, (item["name"], result.status, result.stderr[-300:])


def test_parse_renames_the_new_pair_and_rejects_incomplete_ones():
    puzzle, solution = parse_puzzle(GOOD + "\nassert f6(g6()) is True\n\nsome trailing text(", 6)
    assert puzzle.startswith("def f(n: int, k=7):") and solution.startswith("def g(k=7):")
    assert _check(puzzle, solution).ok
    with pytest.raises(RowError) as missing:
        parse_puzzle("x: int):\n    return x == 3\n", 6)
    assert missing.value.kind == "unparsed"
    with pytest.raises(RowError) as no_answer:
        parse_puzzle("):\n    return True\n\ndef g6():\n    return 1\n", 6)
    assert no_answer.value.kind == "no_answer_argument"


def test_a_wrong_or_cheating_solution_fails_and_the_verdict_reverifies():
    wrong = _check("def f(x: int):\n    return x == 5\n", "def g():\n    return 4\n")
    assert not wrong.ok and wrong.status == "error"
    # g rebinding f cannot help: f runs in the tests' process, which g cannot reach
    puzzle, solution = parse_puzzle(CHEATING, 6)
    assert not _check(puzzle, solution).ok
    puzzle, solution = parse_puzzle(GOOD, 6)
    verdict = evidence.tests_verdict(solution, puzzle + CHECK, _check(puzzle, solution))
    assert verdict["verified"] and asyncio.run(evidence.reverify(verdict, Sandbox()))


def test_prompt_numbers_the_shots_and_opens_the_next_puzzle():
    async def rows():
        ctx = StepContext(llm=None, run_seed=0, step_name="seeds")
        return [row async for row in Seeds(count=3, shots=5).rows(ctx)]

    slots = asyncio.run(rows())
    assert len(slots) == 3 and all(len(s["shots"]) == 5 for s in slots)
    assert slots[0]["shots"] != slots[1]["shots"]
    prompt = Generate().request(slots[0]["shots"], seed=1).prompt
    assert prompt.endswith("def f6(") and "assert f5(g5()) is True" in prompt
    assert "def f1(" in prompt and "def g1(" in prompt and "def f(" not in prompt
    decontaminate = [
        s for s in build_pipeline(load_recipe("code_puzzles")).steps if s.method == "decontaminate"
    ]
    assert {s.params.mode for s in decontaminate} == {"substring", "overlap"}


def test_code_puzzles_recipe_end_to_end(tmp_path):
    records = run_recipe_twice(
        tmp_path, "code_puzzles", "--set", "steps[0].params.count=2",
        "--set", "steps[1].params.attempts=2", "--set", "steps[1].params.max_tokens=128",
    )  # fmt: skip
    generate = summary_of(tmp_path / "data.jsonl")["steps"][1]
    assert generate["rows_in"] == 2 and set(generate["errors"]) <= {"no_verified_puzzle"}
    errors = tmp_path / "data.errors.jsonl"
    for failed in read_jsonl(errors) if errors.exists() else []:
        assert failed["_meta"]["error"]["message"].count("attempt ") == 2
    for record in records:  # only verified pairs come out, with their evidence
        verdict = record["verification"]
        assert verdict["kind"] == "tests" and verdict["verified"]
        assert verdict["code"] == record["solution"] and verdict["tests"].endswith(CHECK)
        assert record["puzzle"].startswith("def f(") and record["solution"].startswith("def g(")
        assert asyncio.run(evidence.reverify(verdict, Sandbox()))
