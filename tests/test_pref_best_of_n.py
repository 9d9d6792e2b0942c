"""Best-of-N selection (best_of_n.select): by judge score, by math answer and by code tests, and
the best_of_n recipe on the embedded model."""

from __future__ import annotations

import asyncio

from conftest import read_jsonl, run_recipe_twice, write_jsonl

from synthaug.engine.resources import RunResources
from synthaug.engine.step import StepContext
from synthaug.methods.preference.best_of_n import Select, best_index
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def select(row: dict, **params) -> list[dict]:
    resources = RunResources(sandbox=Sandbox())
    ctx = StepContext(llm=None, run_seed=0, step_name="select", resources=resources)
    return asyncio.run(Select(**params).process({**row, "_meta": {"id": "r1"}}, ctx))


def completions(*responses: str, scores: list[float | None] | None = None) -> list[dict]:
    scores = scores or [None] * len(responses)
    return [
        {"model": "m", "response": r, **({"score": s} if s is not None else {})}
        for r, s in zip(responses, scores, strict=True)
    ]


def test_best_index_ties_go_to_the_first():
    assert best_index([0, 1, 2], {0: 2.0, 1: 3.5, 2: 3.5}) == 1
    assert best_index([2, 0], {0: 1.0}) == 0
    assert best_index([2, 1], {}) == 2


def test_select_by_judge():
    row = {"instruction": "Q", "completions": completions("a", "b", "c", scores=[1.0, 4.0, 4.0])}
    [record] = select(row)
    assert (record["response"], record["best_index"], record["n"]) == ("b", 1, 3)
    assert "verification" not in record and record["completions"] == row["completions"]
    [dropped] = select({"instruction": "Q", "completions": completions("a", "b")})
    assert dropped["_meta"]["error"]["kind"] == "no_score"
    [empty] = select({"instruction": "Q", "completions": []})
    assert empty["_meta"]["error"]["kind"] == "no_completions"


def test_select_by_math_verifier_then_judge_score():
    texts = ("2 + 2 = 5. The answer is 5.", "The answer is 4.", "So the answer is 4.")
    row = {"question": "2 + 2?", "answer": "4", "completions": completions(*texts)}
    [record] = select(row, by="verifier")
    assert (record["best_index"], record["verified_count"]) == (1, 2)
    assert record["verification"]["verified"] and record["verification"]["text"] == texts[1]
    assert [c["verification"]["verified"] for c in record["completions"]] == [False, True, True]
    scored = {**row, "completions": completions(*texts, scores=[5.0, 2.0, 3.0])}
    [record] = select(scored, by="verifier", task="math")
    assert record["best_index"] == 2  # the verified one the judge scores higher
    wrong = {**row, "answer": "9"}
    [dropped] = select(wrong, by="verifier")
    assert dropped["_meta"]["error"]["kind"] == "none_verified"
    assert dropped["verified_count"] == 0 and len(dropped["completions"]) == 3


def test_select_by_code_tests_in_the_sandbox():
    texts = (
        "No code here, sorry.",
        "```python\ndef add(a, b):\n    return a - b\n```",
        "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```\n```python\nprint(1)\n```",
    )
    row = {"question": "Write add(a, b).", "tests": TESTS, "completions": completions(*texts)}
    [record] = select(row, by="verifier")  # auto: the row has tests
    assert record["best_index"] == 2 and record["verified_count"] == 1
    verification = record["verification"]
    assert verification["kind"] == "tests" and verification["code"].startswith("def add")
    assert asyncio.run(reverify(verification, Sandbox()))
    assert [c["verification"]["verified"] for c in record["completions"]] == [False, False, True]


def test_best_of_n_recipe_on_the_embedded_model(tmp_path):
    problems = write_jsonl(
        tmp_path / "easy.jsonl",
        [
            {"question": "What is 2 + 2? End with 'The answer is N.'", "answer": "4"},
            {"question": "What is 10 - 3? End with 'The answer is N.'", "answer": "7"},
        ],
    )
    records = run_recipe_twice(
        tmp_path,
        "best_of_n",
        "--set", f"steps[0].params.path={problems}",
        "--set", "steps[1].params.per_prompt=3",
        "--set", "steps[1].params.max_tokens=32",
    )  # fmt: skip
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert len(records) + len(errors) == 2
    for record in records:
        assert record["n"] == 3 and len(record["completions"]) == 3
        best = record["completions"][record["best_index"]]
        assert record["response"] == best["response"] and best["verification"]["verified"]
        assert record["verification"] == best["verification"]
        assert record["verified_count"] == sum(
            c["verification"]["verified"] for c in record["completions"]
        )
        first_verified = min(
            i for i, c in enumerate(record["completions"]) if c["verification"]["verified"]
        )
        assert record["best_index"] == first_verified  # no judge scores: the first verified
        assert asyncio.run(reverify(record["verification"], Sandbox()))
    for error in errors:
        assert error["_meta"]["error"]["kind"] == "none_verified"
        assert not any(c["verification"]["verified"] for c in error["completions"])
