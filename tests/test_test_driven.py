"""Test-driven code synthesis (Code Llama - Instruct's self-instruct data) on the embedded model."""

from __future__ import annotations

import asyncio

import pytest
from conftest import read_jsonl, run_cli, run_recipe_twice, summary_of, write_jsonl

from synthaug.engine.step import RowError
from synthaug.errors import InputError
from synthaug.methods.code.test_driven import Questions, load_question_rows, parse_tests
from synthaug.methods.common.code import code_blocks, first_python_block, without_shadowing
from synthaug.verify.code import run_tests
from synthaug.verify.sandbox import Sandbox

ADD = (
    "Write a Python function `add(a, b)` that returns the sum of the two integers a and b. "
    "For example, add(2, 3) returns 5."
)
# Real replies of the embedded SmolLM2-135M: unit tests for ADD (temperature 0.2) and two
# solutions to it (temperature 0.8, the tests shown in the prompt).
RECORDED_TESTS = (
    "```python\ndef add(a, b):\n    return a + b\n\ndef add_test():\n    return add(2, 3)\n\n"
    "add_test()\n```\n\nThis code defines a function `add_test` that takes two integers `a` and "
    "`b` as parameters and returns their sum."
)
RECORDED_SOLUTIONS = [
    "```python\ndef add(a, b):\n    return a + b\n```\n\n```python\ndef add(a, b):\n"
    "    return a + b, 0\n```\n\n```python\ndef add(a, b):\n    return a, a + b, 0\n```\n\n"
    "```python\ndef add(a, b):",
    "```python\ndef add(a, b):\n    return a + b\n```\n\nAlternatively, you can use the built-in "
    "`add` function in Python 3.\n\n```python\nadd = lambda a, b: a + b * (a + b)\n```",
]
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def test_parse_tests_on_recorded_reply_and_pytest_style_tests():
    with pytest.raises(RowError) as no_assert:
        parse_tests(RECORDED_TESTS)  # the model wrote the function and a call, but no assert
    assert no_assert.value.kind == "bad_tests"
    assert parse_tests("assert add(1, 1) == 2") == "assert add(1, 1) == 2\n"
    pytest_style = "Tests:\n```python\ndef test_add():\n    assert add(2, 3) == 5\n```\nDone."
    # an uncalled test function would pass anything: it gets called
    assert (
        parse_tests(pytest_style) == "def test_add():\n    assert add(2, 3) == 5\n\n\ntest_add()\n"
    )
    with pytest.raises(RowError, match="do not parse"):
        parse_tests("```python\nassert add(2, 3 == 5\n```")


def test_tests_cannot_replace_the_solution_they_check():
    tests = "def add(a, b):\n    return a + b\n\n\nassert add(2, 3) == 5\n"
    wrong = "def add(a, b):\n    return 0\n"
    sandbox = Sandbox()
    assert asyncio.run(run_tests(sandbox, wrong, tests)).ok  # the tests' own add wins
    stripped = without_shadowing(tests, wrong)
    assert "def add" not in stripped and "assert add(2, 3) == 5" in stripped
    assert not asyncio.run(run_tests(sandbox, wrong, stripped)).ok
    assert without_shadowing(TESTS, wrong) == TESTS


def test_first_solution_block_of_recorded_replies_runs_with_the_tests():
    solutions = [first_python_block(text) for text in RECORDED_SOLUTIONS]
    assert solutions == ["def add(a, b):\n    return a + b\n"] * 2
    assert first_python_block("no code at all") is None
    sandbox = Sandbox()
    passed = asyncio.run(run_tests(sandbox, solutions[0], TESTS))
    assert passed.ok
    alternative = code_blocks(RECORDED_SOLUTIONS[0])[1][1]  # `return a + b, 0`
    failed = asyncio.run(run_tests(sandbox, alternative, TESTS))
    assert failed.status == "error" and "AssertionError" in failed.detail + failed.stderr


def test_questions_from_text_or_records_files(tmp_path):
    text = tmp_path / "questions.txt"
    text.write_text(f"{ADD}\n\n  Reverse a string.  \n")
    assert load_question_rows(str(text)) == [{"question": ADD}, {"question": "Reverse a string."}]
    records = write_jsonl(tmp_path / "q.jsonl", [{"question": ADD, "unit_tests": TESTS}])
    assert load_question_rows(str(records), tests_column="unit_tests") == [
        {"question": ADD, "tests": TESTS}
    ]
    with pytest.raises(InputError):
        load_question_rows(str(text), tests_column="unit_tests")
    with_tests = Questions(path=str(records), tests_column="unit_tests")
    assert with_tests.output_columns(set()) == {"question", "tests"}
    assert not with_tests.uses_llm and Questions().uses_llm
    assert Questions(path=str(text), count=1).expected_rows() == 1


def test_first_passing_solution_is_kept_from_a_file_with_tests(tmp_path):
    questions = write_jsonl(
        tmp_path / "questions.jsonl",
        [
            {"question": ADD, "unit_tests": TESTS},
            {
                "question": "Write a function `nth_prime(n)` that returns the n-th prime number.",
                "unit_tests": "assert nth_prime(1) == 2\nassert nth_prime(100) == 541\n",
            },
        ],
    )
    recipe = tmp_path / "td.yaml"
    recipe.write_text(
        f"""name: td_file
seed: 0
backend:
  type: local
  parallel: 4
output: data.jsonl
steps:
  - name: questions
    method: test_driven.questions
    params: {{path: {questions}, tests_column: unit_tests}}
  - name: solve
    method: test_driven.solve
    params: {{num_solutions: 10, max_tokens: 120, lazy: true}}
"""
    )
    # up to 10 solutions (the paper's cap), lazily: the model's replies differ across CPUs,
    # and two attempts at 80 tokens once solved nothing on the CI machine
    records = run_recipe_twice(tmp_path, str(recipe))
    solve = summary_of(tmp_path / "data.jsonl")["steps"][1]
    assert solve["rows_in"] == 2
    assert set(solve["errors"]) <= {"no_passing_solution"}
    assert [r["question"] for r in records][:1] == [ADD], "the add question is solved"
    for record in records:
        verification = record["verification"]
        assert verification["kind"] == "tests" and verification["verified"]
        assert verification["passed"] and verification["tests"] == record["tests"]
        assert verification["code"] == record["solution"]
        assert record["attempts"][-1]["status"] == "ok"
        assert record["solution_index"] == len(record["attempts"]) - 1
        assert len(record["_meta"]["request"]) == record["solution_index"] + 1  # lazy
    checked = run_cli("verify", str(tmp_path / "data.jsonl"), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_test_driven_recipe_end_to_end(tmp_path):
    run_recipe_twice(
        tmp_path,
        "test_driven",
        "--limit",
        "1",
        "--set",
        "steps[0].params.count=1",
        "--set",
        "steps[0].params.requests_in_flight=1",
        "--set",
        "steps[0].params.max_tokens=160",
        "--set",
        "steps[1].params.max_tokens=160",
        "--set",
        "steps[2].params.num_solutions=2",
        "--set",
        "steps[2].params.max_tokens=128",
    )
    steps = summary_of(tmp_path / "data.jsonl")["steps"]
    assert steps[0]["rows_out"] == 1  # a question that finished within 160 tokens
    assert set(steps[1]["errors"]) <= {"bad_tests"}
    assert set(steps[2]["errors"]) <= {"no_passing_solution"}
    errors = tmp_path / "data.errors.jsonl"
    for row in read_jsonl(errors) if errors.exists() else []:
        assert row["_meta"]["error"]["kind"] in {"bad_tests", "no_passing_solution"}
