"""RFT (equation check, dedup rule, gold path) and STaR (rationalization) on the embedded model."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections import Counter

import pytest
from conftest import resume_after_kill, run_recipe_twice, summary_of

from synthaug.engine.step import StepContext
from synthaug.llm.client import LLMClient
from synthaug.llm.local import LocalBackend
from synthaug.llm.types import chat
from synthaug.methods.reasoning.problems import load_problems
from synthaug.methods.reasoning.rft import (
    Kept,
    NotArithmetic,
    RFTSample,
    Sample,
    dedup_paths,
    edit_distance,
    equation_key,
    evaluate,
    find_equations,
)
from synthaug.methods.reasoning.star import SHOTS, star_prompt
from synthaug.verify.evidence import answer_verdict, reverify
from synthaug.verify.sandbox import Sandbox

# Real samples of the embedded SmolLM2-135M for the rft_sample.j2 few-shot prompt
# (temperature 0.7) on the built-in problem gsm_symbolic_0_1 (gold 56).
REAL_RFT = [
    "Ema can peel 5 * 2 = <<5*2=10>>10 clams, and 30 clams are sauted in 8 minutes, so it will "
    "take her 10 + 8 = <<18+8=26>>26 minutes to peel and saute 120 clams.\n#### 26",
    "To calculate, Emma needs to peel 5 * 30 = <<5*30=150>>150 clams.\nShe will take 150 / 8 = "
    "<<150/8=25>>25 minutes.\n#### 25",
    "Emma's work is quite efficient, as she can peel 5 clams in 5 minutes, so she would need 5 * "
    "12 = <<5*12=16>>16 minutes to peel and saute 120 clams.\n#### 16",
]
# Real STaR rationales (temperature 0.01, top_p 0.9) for gsm_symbolic_0_0 (gold 220), without
# and with the answer as a hint.
REAL_STAR = " 4 * 30 = 120 mushrooms. 120 / 4 = 30 minutes. The answer is 30."
REAL_STAR_HINTED = (
    " The number of minutes it takes to peel and saute 240 mushrooms is 4 * 20 = 80 minutes. "
    "The answer is 220."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the visible "48/2 = " and its annotation are one equation, not two
        (
            "48/2 = <<48/2=24>>24 clips, then 48+24 = <<48+24=72>>72.",
            [("48/2", "24", True), ("48+24", "72", True)],
        ),
        ("<<5*2=10>> and <<18+8=26>>", [("5*2", "10", True), ("18+8", "26", True)]),
        ("<<150/8=25>>", [("150/8", "25", False)]),
        (
            "<<5*5=25.0004>> <<1/0=1>> <<foo(1)=2>> <<3*4>>",
            [
                ("5*5", "25.0004", True),
                ("1/0", "1", False),
                ("foo(1)", "2", False),
                ("3*4", "", False),
            ],
        ),
        (
            "So 3 x 4 = 12 and 12 × 2 = 24, then $1,200 / 4 = $300.",
            [("3 x 4", "12", True), ("12 × 2", "24", True), ("$1,200 / 4", "$300", True)],
        ),
        (
            "It costs (5 + 3) * 2 = 16 dollars; -3 + 5 = 2. And 2^3 = 9.",
            [("(5 + 3) * 2", "16", True), ("-3 + 5", "2", True), ("2^3", "9", False)],
        ),
        ("240 mushroom / 4 mushroom/minute = 60 minutes, on 2023-05-06 = today", []),
        ("48 * (1/12) + 42 * (1/14) = 24 + 48 = 80.", [("48 * (1/12) + 42 * (1/14)", "24", False)]),
    ],
)
def test_equations_in_annotations_and_prose(text, expected):
    assert [(eq.expr, eq.value, eq.ok) for eq in find_equations(text)] == expected


def test_evaluation_is_arithmetic_only():
    assert evaluate("(5 + 3) * 2 - 1 / 4") == 15.75
    assert evaluate("2 ** 10 // 3 % 7") == 5.0  # 1024 // 3 = 341, 341 % 7 = 5
    for hostile in ("__import__('os').system('true')", "x + 1", "(1).real", "2 ** 1000000", "[1]"):
        with pytest.raises(NotArithmetic):
            evaluate(hostile)


def _reference_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_edit_distance_matches_the_textbook_table():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("flaw", "lawn") == 2
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("ab c") for _ in range(rng.randint(0, 90)))
        b = "".join(rng.choice("abcd ") for _ in range(rng.randint(0, 90)))
        assert edit_distance(a, b) == _reference_distance(a, b)


def test_dedup_keeps_the_most_different_path_per_equation_list():
    a = "We get 2 + 3 = 5 apples. #### 5"
    b = "Also 4 * 2 = 8 pears in all. #### 8"
    far = "Long story: first we think a lot, then 2 + 3 = 5. So #### 5"
    near = "We get 2 + 3 = 5 apple. #### 5"
    assert equation_key(find_equations(a)) == "2+3=5"
    assert dedup_paths([a, b, far]) == [far, b]  # far is further from b than a is
    assert dedup_paths([far, b, near]) == [far, b]  # the incumbent is further: it stays
    kept = Kept()
    assert kept.offer("k", "x") is None and kept.offer("k", "x") == "x"  # a tie keeps the first
    assert kept.paths == ["x"]


def _context() -> StepContext:
    return StepContext(llm=LLMClient(LocalBackend(parallel=1)), run_seed=0, step_name="sample")


def test_selection_on_real_samples_plus_checked_paths():
    row = {**load_problems(None, 2)[1], "_meta": {"id": "q1"}}
    assert row["answer"] == "56"
    good = (
        "Peeling takes 120 / 5 = <<120/5=24>>24 minutes. There are 120 / 30 = <<120/30=4>>4 "
        "batches, 4 * 8 = <<4*8=32>>32 minutes. In all 24 + 32 = <<24+32=56>>56.\n#### 56"
    )
    same_equations = "120 / 5 = 24, 120 / 30 = 4, 4 * 8 = 32, 24 + 32 = 56.\n#### 56"
    bad_equation = "She needs 24 + 32 = <<24+32=57>>57 minutes... no, 56.\n#### 56"
    request = chat(("user", "q"), seed=1)
    texts = [*REAL_RFT, good, same_equations, bad_equation]
    samples = [Sample(i, text, request) for i, text in enumerate(texts)]
    records = RFTSample(k=len(texts)).select(row, samples, _context())
    kinds = [r["_meta"].get("error", {}).get("kind", "kept") for r in records]
    assert kinds == ["wrong_answer"] * 3 + ["kept", "duplicate_path", "bad_equation", "kept"]
    kept, gold = records[3], records[-1]
    assert kept["response"] == good and kept["rft_from"] == "sample"
    assert (
        kept["rft_key"]
        == "120/5=24|120/30=4|4*8=32|24+32=56"
        == equation_key(find_equations(same_equations))
    )
    assert gold["rft_from"] == "gold" and gold["response"] == row["solution"]
    assert gold["verification"]["verified"] and gold["query"] == row["question"]
    for record in records:  # every sample: kept or dropped, with its verification
        assert record["verification"] == answer_verdict(record["response"], "56", False)
    assert len({r["_meta"]["id"] for r in records}) == len(records)


def test_a_bare_last_number_is_an_answer_only_when_asked():
    """RFT's and STaR's references read "The answer is" / ####: "... 56 minutes." is no answer."""
    row = {**load_problems(None, 2)[1], "_meta": {"id": "q1"}}
    bare = "Peeling takes 24 minutes and cooking 32, so she needs 56 minutes."
    stated = "Peeling takes 24 minutes and cooking 32. The answer is 56."
    samples = [
        Sample(i, text, chat(("user", "q"), seed=1)) for i, text in enumerate([bare, stated])
    ]
    strict = RFTSample(k=2, include_gold=False).select(row, samples, _context())
    assert [r["_meta"].get("error", {}).get("kind", "kept") for r in strict] == [
        "wrong_answer",
        "kept",
    ]
    assert strict[0]["verification"]["extracted"] is None
    assert strict[1]["verification"]["form"] == "answer_is"
    lenient = RFTSample(k=2, include_gold=False, last_number_fallback=True)
    first = lenient.select(row, samples, _context())[0]
    assert first["verification"]["verified"] and first["verification"]["form"] == "last_number"
    strict_verdict = answer_verdict(bare, "56", False)  # STaR's steps use the same rule
    assert not strict_verdict["verified"] and asyncio.run(reverify(strict_verdict, Sandbox()))


def _errors(tmp_path) -> list[dict]:
    path = tmp_path / "data.errors.jsonl"
    return [json.loads(line) for line in path.open()] if path.exists() else []


def test_rft_recipe_every_sample_is_kept_or_counted(tmp_path):
    args = ["--limit", "2"] + [
        f"--set=steps[1].params.{key}" for key in ("k=3", "samples_per_call=3", "max_tokens=48")
    ]
    records = run_recipe_twice(tmp_path, "rft", *args)
    errors = _errors(tmp_path)
    samples = [r for r in records if r["rft_from"] == "sample"]
    assert [r["rft_from"] for r in records].count("gold") == 2
    assert len(samples) + len(errors) == 2 * 3
    step = summary_of(tmp_path / "data.jsonl")["steps"][1]
    assert step["errors"] == dict(Counter(e["_meta"]["error"]["kind"] for e in errors))
    assert set(step["errors"]) <= {"wrong_answer", "bad_equation", "duplicate_path"}
    for record in records:
        assert asyncio.run(reverify(record["verification"], Sandbox()))
        assert record["verification"]["verified"]
        assert all(eq["ok"] for eq in record["rft_equations"]) or record["rft_from"] == "gold"
    keys = [r["rft_key"] for r in samples]
    assert len(keys) == len(set(keys)), "two kept sampled paths share an equation list"


def test_rft_resumes_after_kill(tmp_path):
    # one decoding slot: the answers land one by one, so the kill comes mid-run
    args = ["--limit", "2", "--set", "backend.parallel=1"] + [
        f"--set=steps[1].params.{key}" for key in ("k=2", "samples_per_call=1", "max_tokens=24")
    ]
    records, summary, _ = resume_after_kill(tmp_path, "rft", *args, after_calls=2)
    assert [r["rft_from"] for r in records].count("gold") == 2
    assert summary["steps"][1]["rows_in"] == 2


def test_star_prompt_has_six_exemplars_and_the_hint_only_when_rationalizing():
    plain, hinted = star_prompt("How many?"), star_prompt("How many?", "7")
    assert len(SHOTS) == 6 and plain.count("\nA: ") == 6 and plain.endswith("Q: How many?\nA:")
    assert "correct answer" not in plain
    assert hinted.count("(The correct answer is") == 7
    assert hinted.endswith("Q: How many? (The correct answer is 7.)\nA:")


def test_real_star_rationales_check_like_the_stored_rationale():
    assert not answer_verdict(REAL_STAR.strip(), "220")["verified"]
    rationalized = answer_verdict(REAL_STAR_HINTED.strip(), "220")
    assert rationalized["verified"] and "correct answer" not in rationalized["text"]


def test_star_recipe_rationalizes_wrong_answers(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "star",
        "--limit", "2",
        "--set", "steps[1].params.max_tokens=40",
        "--set", "steps[1].params.keep_failed=true",
    )  # fmt: skip
    assert len(records) == 2
    for record in records:
        verification = record["verification"]
        assert verification["text"] == record["rationale"]
        assert asyncio.run(reverify(verification, Sandbox()))
        # rationalized exactly when the first, unhinted attempt was wrong (p_rationalization 1)
        assert len(record["_meta"]["request"]) == (2 if record["from_rationalization"] else 1)
        assert verification["verified"] == ("failure" not in record)
        if record["from_rationalization"] and not verification["verified"]:
            assert record["failure"] == "rationalization_failed"
    other = tmp_path / "no_rationalization"
    other.mkdir()
    for cache in tmp_path.glob("cache.sqlite3*"):  # the unhinted attempts are paid for already
        shutil.copy(cache, other / cache.name)
    no_retry = run_recipe_twice(
        other,
        "star",
        "--limit", "2",
        "--set", "steps[1].params.max_tokens=40",
        "--set", "steps[1].params.p_rationalization=0",
    )  # fmt: skip
    errors = _errors(other)
    assert len(no_retry) + len(errors) == 2
    assert all(not r["from_rationalization"] for r in no_retry + errors)
    assert all(e["_meta"]["error"]["kind"] == "wrong_answer" for e in errors)
