"""SPIN pairs (spin.pairs, spin.mix) and verified preference pairs (preference.verified)."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from conftest import read_jsonl, run_cli, run_recipe_twice, start_llamacpp_http, write_jsonl

from synthaug.errors import InputError
from synthaug.methods.instruct.seeds import seed_fields
from synthaug.methods.preference.spin import Mix, load_previous, messages, real_response
from synthaug.methods.preference.verified import pair_indices, task_kind, verify
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

KEY = "spin-iteration-token"
# Real solutions of the embedded SmolLM2-135M (verified_math.j2, temperature 1.0, max_tokens 96)
# to gsm_symbolic_0_0 (Isabella's mushrooms, gold 220): both wrong.
REAL_MATH = [
    "To solve this equation, we can write it as a sum:\n\n119\n\nPlugging this into the "
    "equation, we get:\n\n119\n\nPlugging it into the equation, we get:\n\n20\n\nUsing the "
    "concept of addition, we can solve it by adding 20 to 119:\n\n(20 + 119) * 20 * 2 = 42",
    "The solution is: 20 * 18\n= 320\n320 = X\nThe answer is 320",
]
# Real solutions to ADD (verified_code.j2 with TESTS shown, temperature 1.0): both pass.
ADD = (
    "Write a Python function `add(a, b)` that returns the sum of the two integers a and b. "
    "For example, add(2, 3) returns 5."
)
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
REAL_ADD = [
    "```python\ndef add(a, b):\n    if isinstance(a, (int, float)) and isinstance(b, (int, float)):"
    "\n        return a + b\n    else:\n        return 0\n```",
    "```python\ndef add(a, b):\n    return a + b\n```",
]
SEED_TASK = {
    "instruction": "Give a synonym for the word.",
    "instances": [{"input": "happy", "output": "cheerful"}],
}


@pytest.fixture(scope="module")
def llamacpp_http():
    """The bundled model behind llama.cpp's HTTP server: iteration 1's "fine-tuned" model."""
    server, url = start_llamacpp_http(KEY)
    yield url
    del server


def test_pairs_go_diagonally_through_correct_by_incorrect():
    assert pair_indices(2, 3, 10) == [(0, 0), (1, 1), (0, 1), (1, 2), (0, 2), (1, 0)]
    assert pair_indices(3, 2, 3) == [(0, 0), (1, 1), (2, 0)]  # every correct one used once
    assert pair_indices(1, 4, 1) == [(0, 0)]
    assert task_kind({"tests": TESTS, "answer": "5"}, "auto") == "code"
    assert task_kind({"answer": "5"}, "auto") == "math"
    assert task_kind({"tests": TESTS}, "math") == "math"


def test_verify_real_solutions_and_reverify_their_evidence():
    sandbox = Sandbox()

    def check(text: str, row: dict) -> dict:
        kind = "code" if "tests" in row else "math"
        verdict = asyncio.run(verify(kind, text, row, sandbox))
        assert asyncio.run(reverify(verdict, sandbox))
        return verdict

    wrong = [check(text, {"answer": "220"}) for text in REAL_MATH]
    assert [v["verified"] for v in wrong] == [False, False]
    assert wrong[1]["extracted"] == "320" and wrong[1]["text"] == REAL_MATH[1]
    assert check(REAL_MATH[1], {"answer": "320"})["verified"]  # the same text, another gold
    passed = [check(text, {"tests": TESTS}) for text in REAL_ADD]
    assert all(v["verified"] and v["kind"] == "tests" for v in passed)
    assert passed[1]["code"] == "def add(a, b):\n    return a + b\n"
    strings = TESTS + "assert add('a', 'b') == 'ab'\n"  # the first solution returns 0 for strings
    assert [check(text, {"tests": strings})["verified"] for text in REAL_ADD] == [False, True]
    no_code = check("Just add the two numbers.", {"tests": TESTS})
    assert no_code["code"] == "" and not no_code["verified"]
    shadowing = "def add(a, b):\n    return a + b\n\n\n" + TESTS  # tests bringing their own add
    assert not check("```python\ndef add(a, b):\n    return 0\n```", {"tests": shadowing})[
        "verified"
    ]


def test_real_response_from_a_flat_column_or_instances():
    flat = seed_fields(SEED_TASK)
    assert flat == {"instruction": "Give a synonym for the word.\nhappy", "output": "cheerful"}
    assert real_response(flat, "output") == "cheerful"
    assert real_response(SEED_TASK, "output") == "cheerful"  # a raw Self-Instruct task
    assert real_response({"answer": " 42 "}, "answer") == "42"
    assert real_response({"instances": []}, "output") == ""
    assert real_response({"output": ""}, "output") == ""
    assert messages("Q", "A") == [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
    ]


def test_previous_iteration_file_keeps_only_its_newest_iteration(tmp_path):
    pair = {"real": [], "generated": [], "_meta": {"id": "a"}}
    path = write_jsonl(
        tmp_path / "iter1.jsonl",
        [{**pair, "iteration": 1}, {**pair, "iteration": 0, "_meta": {"id": "b"}}],
    )
    assert [r["_meta"]["id"] for r in load_previous(str(path))] == ["a"]
    bare = write_jsonl(tmp_path / "bare.jsonl", [{"real": [], "generated": [], "iteration": 0}])
    [row] = load_previous(str(bare))
    assert row["_meta"]["id"] and row["_meta"]["source"] == str(bare)
    wrong = write_jsonl(tmp_path / "wrong.jsonl", [{"real": [], "iteration": 0}])
    with pytest.raises(InputError, match="missing required field"):
        Mix(previous=str(wrong))
    with pytest.raises(InputError, match="no such file"):
        Mix(previous=str(tmp_path / "none.jsonl"))


def test_spin_iteration_0_then_1_mixes_the_previous_pairs(tmp_path, llamacpp_http, monkeypatch):
    records = run_recipe_twice(
        tmp_path,
        "spin",
        "--limit", "2",
        "--set", "steps[1].params.max_tokens=32",
    )  # fmt: skip
    assert len(records) == 2
    for record in records:
        prompt = record["instruction"]
        assert record["prompt"] == prompt and record["iteration"] == 0
        assert [m["role"] for m in record["real"]] == ["user", "assistant"]
        assert record["real"][0]["content"] == record["generated"][0]["content"] == prompt
        assert record["chosen"] == record["real"][1]["content"] == record["output"].strip()
        assert record["rejected"] == record["generated"][1]["content"] != ""
        assert record["rejected_model"].startswith("local:") and record["chosen_model"] is None
        assert record["pair_method"] == "spin.pairs"
    shutil.copy(tmp_path / "data.jsonl", tmp_path / "iter0.jsonl")
    monkeypatch.setenv("K", KEY)
    second = tmp_path / "iter1"
    second.mkdir()
    mixed = run_recipe_twice(
        second,
        "spin",
        "--limit", "2",
        "--set", "backends.iter1.type=openai",
        "--set", f"backends.iter1.base_url={llamacpp_http}",
        "--set", "backends.iter1.model=spin-iter1",
        "--set", "backends.iter1.api_key_env=K",
        "--set", "steps[1].params.iteration=1",
        "--set", "steps[1].params.model_backend=iter1",
        "--set", "steps[1].params.max_tokens=32",
        "--set", f"steps[2].params.previous={tmp_path / 'iter0.jsonl'}",
    )  # fmt: skip
    assert [r["iteration"] for r in mixed] == [1, 1, 0, 0]
    assert mixed[2:] == records
    assert all(r["rejected_model"] == f"openai:spin-iter1@{llamacpp_http}" for r in mixed[:2])
    assert len({r["_meta"]["id"] for r in mixed}) == 4  # the iteration is part of the id
    # iteration 0 again, over iteration 0's own file: not a previous iteration
    again = run_cli(
        "run", "spin", "--limit", "2", "--out", str(second / "bad.jsonl"),
        "--set", "steps[1].params.max_tokens=32",
        "--set", f"steps[2].params.previous={tmp_path / 'iter0.jsonl'}",
        cwd=second, env={"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")},  # cached answers
    )  # fmt: skip
    assert again.returncode == 2
    assert "holds iteration 0, not one before this run's iteration 0" in again.stderr


def check_pairs(records: list[dict], errors: list[dict], kind: str) -> None:
    """Every pair: a verified chosen over an unverified rejected, both verdicts re-checked."""
    sandbox = Sandbox()
    for record in records:
        chosen, rejected = record["chosen_verification"], record["rejected_verification"]
        assert chosen["kind"] == rejected["kind"] == kind
        assert chosen["verified"] and not rejected["verified"]
        assert asyncio.run(reverify(chosen, sandbox)) and asyncio.run(reverify(rejected, sandbox))
        assert record["chosen"] != record["rejected"]
        assert (record["chosen_score"], record["rejected_score"]) == (1.0, 0.0)
        assert record["pair_method"] == "preference.verified"
        counts = record["verified_counts"]
        assert counts["correct"] >= 1 and counts["incorrect"] >= 1
        assert counts["correct"] + counts["incorrect"] == counts["distinct"] <= counts["samples"]
    for error in errors:
        kind_ = error["_meta"]["error"]["kind"]
        assert kind_ in {"no_correct_solution", "no_incorrect_solution"}
        counts = error["verified_counts"]
        assert counts["correct" if kind_ == "no_correct_solution" else "incorrect"] == 0


def errors_of(cwd) -> list[dict]:
    path = cwd / "data.errors.jsonl"
    return read_jsonl(path) if path.exists() else []


def test_verified_recipe_on_math_problems(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "verified_preferences",
        "--limit", "2",
        "--set", "steps[1].params.samples=4",
        "--set", "steps[1].params.max_tokens=64",
    )  # fmt: skip
    errors = errors_of(tmp_path)
    check_pairs(records, errors, "answer")
    parents = {r["_meta"]["parents"][0] for r in records + errors}
    assert len(parents) == 2  # each problem gave pairs or one error row
    assert all(len(r["_meta"]["request"]) == 1 for r in records)


def test_verified_code_pairs_from_a_question_file(tmp_path):
    questions = write_jsonl(
        tmp_path / "questions.jsonl",
        [
            {
                "question": "Write a Python function `is_palindrome(s)` that returns True when "
                "the string s reads the same backwards, ignoring case.",
                "tests": "assert is_palindrome('Level')\nassert is_palindrome('noon')\n"
                "assert not is_palindrome('abc')\n",
            },
            {"question": ADD, "tests": TESTS},
            {
                "question": "Write a Python function `square(n)` that returns n squared.",
                "tests": "assert square(3) == 9\nassert square(-2) == 4\n",
            },
        ],
    )
    records = run_recipe_twice(
        tmp_path,
        "verified_preferences",
        "--set", "steps[0].method=load",
        "--set", f"steps[0].params.path={questions}",
        "--set", "steps[1].params.samples=8",
        "--set", "steps[1].params.max_tokens=80",
    )  # fmt: skip
    errors = errors_of(tmp_path)
    check_pairs(records, errors, "tests")
    # sampling is seeded but not bit-stable across runs (llama.cpp batches differ), so two
    # easy questions, each most often solved, sometimes not, make a pair all but certain
    assert records, "no code question gave both a passing and a failing solution"
    assert all(len(r["_meta"]["request"]) == 1 for r in records)
    for record in records:
        assert record["chosen_verification"]["tests"].strip().startswith("assert")
