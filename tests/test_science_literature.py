"""Science pipelines, part 3: SciLitLLM's keyword sampling, Levenshtein dedup rule and
five-criterion quality filter, and the education pipeline's rubric, schema-bounded grades and
computed totals; both recipes end to end on the embedded model."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, run_cli

from synthaug.engine.step import RowError, StepContext
from synthaug.methods.science.education import Grade, Rubric, grade_schema, rubric_schema
from synthaug.methods.science.scilit import (
    Generate,
    Keywords,
    Quality,
    duplicate_groups,
    keyword_table,
    sample_keywords,
    similarity,
)
from synthaug.records import META, error_of


def client(text: str):
    """A client answering ``text`` (for parsing only) and keeping the requests it got."""
    sent = []

    async def complete(request):
        sent.append(request)
        return SimpleNamespace(text=text, choices=[SimpleNamespace(finish_reason="stop")])

    return SimpleNamespace(complete=complete, key=lambda r: "k", sent=sent,
                           backend=SimpleNamespace(describe=lambda: "j"))  # fmt: skip


def run(step, row: dict, text: str) -> list[dict]:
    ctx = StepContext(llm=client(text), run_seed=0, step_name="t")
    return asyncio.run(step.process({**row, META: {"id": "r", "parents": []}}, ctx))


def test_keyword_table_and_the_authors_temperature_sampling():
    table = keyword_table(["The acid and the base: acids react with bases. An acid is sour."])
    assert table == Counter({"acid": 2, "acids": 1, "base": 1, "react": 1, "bases": 1, "sour": 1})
    skewed = Counter({"common": 1000, "rare": 1})
    flat = Counter(sample_keywords(skewed, 2000, 3.0, random.Random(0)))
    sharp = Counter(sample_keywords(skewed, 2000, 1.0, random.Random(0)))
    # temperature 3: weights 1000^(1/3) = 10 to 1, so ~9 % rare; temperature 1: ~0.1 %
    assert 120 <= flat["rare"] <= 250 and sharp["rare"] <= 10
    with pytest.raises(ValueError, match="unknown tasks"):
        Keywords(tasks=["poetry"])


def test_keywords_come_from_the_science_articles_in_turn_over_tasks():
    step = Keywords(count=5, k=4)
    titles = {r["title"] for r in step.passages()}
    assert "Alkane" in titles and "Anarchism" not in titles

    async def collect():
        ctx = StepContext(llm=None, run_seed=0, step_name="keywords")
        return [r async for r in step.rows(ctx)]

    rows = asyncio.run(collect())
    assert [r["task"] for r in rows] == ["multiple_choice", "true_false", "entity_extraction",
                                         "table_extraction", "multiple_choice"]  # fmt: skip
    assert all(len(r["keywords"]) == 4 for r in rows) and rows == asyncio.run(collect())


def test_dedup_joins_the_top_share_of_pairs_like_the_authors():
    rows = [
        {"text": "Methane boils at -161.5 C.", "answer": "methane"},
        {"text": "Methane boils at -161.5 C!", "answer": "methane"},
        {"text": "Algae store energy as starch.", "answer": "starch"},
        {"text": "Albedo is reflected light.", "answer": "True"},
        {"text": "Acids turn litmus red.", "answer": "red"},
        {"text": "Amphibians live on land and in water.", "answer": "False"},
        {"text": "Atomic number counts protons.", "answer": "protons"},
        {"text": "Apollo 11 landed in 1969.", "answer": "1969"},
        {"text": "Aardvarks eat ants and termites.", "answer": "ants"},
        {"text": "The arithmetic mean sums and divides.", "answer": "a) the sum"},
    ]
    assert similarity(rows[0], rows[1]) > 0.9 > similarity(rows[0], rows[2])
    assert duplicate_groups(rows, 0.05) == [0, 0, *range(2, 10)]  # int(2*0.05*10) = 1 pair
    assert duplicate_groups(rows, 0.0) == list(range(10))


def test_scilit_generate_and_quality_parse_and_filter():
    reply = json.dumps({"text": "Alkanes are saturated hydrocarbons.", "question": "True or "
                        "false: alkanes have double bonds.", "answer": "False"})  # fmt: skip
    (made,) = run(Generate(), {"keywords": ["alkane"], "task": "true_false"}, reply)
    assert made["instruction"] == "Alkanes are saturated hydrocarbons.\n\nTrue or false: " \
        "alkanes have double bonds."  # fmt: skip
    assert made["messages"][1] == {"role": "assistant", "content": "False"}
    with pytest.raises(RowError):
        run(Generate(), {"keywords": ["x"], "task": "true_false"}, '{"text": "t"}')
    good = {"clarity": 4, "complexity": 4, "correctness": 4, "usefulness": 4, "adaptability": 4}
    (kept,) = run(Quality(), {"instruction": "x"}, json.dumps(good))
    assert kept["quality"]["total"] == 20 and kept["quality"]["scores"] == good
    with pytest.raises(RowError) as low:
        run(Quality(), {"instruction": "x"}, json.dumps({**good, "clarity": 3}))
    assert low.value.kind == "low_quality" and "19/25" in str(low.value)
    with pytest.raises(RowError) as bad:
        run(Quality(), {"instruction": "x"}, json.dumps({**good, "clarity": 9}))
    assert bad.value.kind == "malformed_judgement"


def test_rubric_and_grades_are_bounded_by_schema_and_totals_computed():
    schema = rubric_schema(2)["properties"]["criteria"]
    assert schema["minItems"] == schema["maxItems"] == 2
    rubric = [{"criterion": "States the formula", "points": 2},
              {"criterion": "Gets the number", "points": 3}]  # fmt: skip
    bounds = grade_schema(rubric)["properties"]
    assert bounds["c1"]["properties"]["points"]["enum"] == [0, 1, 2]
    assert bounds["c2"]["properties"]["points"]["enum"] == [0, 1, 2, 3]
    homework = {"instruction": "Q?", "output": "ref", "rubric": rubric, "student_answer": "A."}
    reply = json.dumps({"c1": {"points": 2, "comment": "Right."},
                        "c2": {"points": 1, "comment": "Off by ten."}})  # fmt: skip
    (graded,) = run(Grade(), homework, reply)
    assert graded["score"] == {"points": 3, "max": 5, "share": 0.6}
    assert [g["points"] for g in graded["grades"]] == [2, 1]
    assert graded["messages"][1]["content"].endswith("Total: 3/5")
    assert "Student's answer: A." in graded["messages"][0]["content"]
    with pytest.raises(RowError):  # a score over the criterion's points never passes
        run(Grade(), homework, json.dumps({"c1": {"points": 3, "comment": ""},
                                           "c2": {"points": 0, "comment": ""}}))  # fmt: skip
    made = run(Rubric(criteria=2), {"instruction": "Q?", "output": "ref"},
               json.dumps({"criteria": rubric}))  # fmt: skip
    assert made[0]["rubric"] == rubric
    with pytest.raises(RowError):
        run(Rubric(criteria=3), {"instruction": "Q?", "output": "ref"},
            json.dumps({"criteria": rubric}))  # fmt: skip


def small_run(cwd, recipe: str, *sets: str) -> SimpleNamespace:
    out = cwd / "data.jsonl"
    args = [a for s in ("backend.threads=1", "backend.parallel=2", *sets) for a in ("--set", s)]
    done = run_cli("run", recipe, "--out", str(out), "--quiet", *args, cwd=cwd,
                   env={"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    failed = cwd / "data.errors.jsonl"
    return SimpleNamespace(records=read_jsonl(out),
                           errors=read_jsonl(failed) if failed.exists() else [])  # fmt: skip


def test_scilitllm_recipe_on_the_embedded_model(tmp_path):
    run_ = small_run(tmp_path, "scilitllm", "steps[0].params.count=2",
                     "steps[1].params.max_tokens=192")  # fmt: skip
    assert len(run_.records) + len(run_.errors) == 2
    kinds = {"malformed_output", "low_quality", "malformed_judgement"}
    assert all(error_of(e)["kind"] in kinds for e in run_.errors)
    for record in run_.records:
        assert record["quality"]["total"] >= 20 and len(record["keywords"]) == 20
        assert record["instruction"] == f"{record['text']}\n\n{record['question']}"
        assert record["duplicates"] == [] and record["task"] in ("multiple_choice", "true_false")


def test_education_recipe_grades_persona_answers_against_rubrics(tmp_path):
    run_ = small_run(tmp_path, "education", "backend.deterministic=true",
                     "steps[0].params.questions_per_subject=1",
                     "steps[1].params.max_tokens=64", "steps[1].params.answer_max_tokens=64",
                     "steps[2].params.max_tokens=96", "steps[3].params.max_tokens=256",
                     "steps[4].params.max_tokens=64", "steps[5].params.max_tokens=192")  # fmt: skip
    assert len(run_.records) + len(run_.errors) == 2 and run_.records
    assert all(error_of(e)["kind"] == "malformed_output" for e in run_.errors)
    for record in run_.records:
        assert record["glan_subject"] in ("Introductory Physics", "Introductory Chemistry")
        assert record["persona"] and record["student_answer"]
        assert len(record["rubric"]) == len(record["grades"]) == 3
        assert all(0 <= g["points"] <= g["max"] for g in record["grades"])
        assert record["score"]["points"] == sum(g["points"] for g in record["grades"])
        assert record["score"]["max"] == sum(c["points"] for c in record["rubric"])
        assert record["messages"][1]["content"].endswith(
            f"Total: {record['score']['points']}/{record['score']['max']}")  # fmt: skip
