"""Self-Rewarding judge (judge.pointwise) and its pairs (self_rewarding.pairs): score parsing on
real replies of the embedded model, aggregation, and runs on the embedded model."""

from __future__ import annotations

import asyncio

import pytest
import yaml
from conftest import (
    SMALL_SELF_REWARDING,
    read_jsonl,
    run_cli,
    run_recipe_twice,
    start_llamacpp_http,
    summary_of,
    write_jsonl,
)

from synthaug.engine.step import StepContext
from synthaug.methods.preference.judge import (
    Pairs,
    judge_grammar,
    judgement,
    justification_of,
    parse_score,
)
from synthaug.recipe import resolve_recipe_path

KEY = "pref-judge-token"
QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris."

# Real replies of the embedded SmolLM2-135M to judge_pointwise.j2 for (QUESTION, ANSWER), three
# samples at T=0.7 / top-p 0.9, seed 7, max_tokens 48: constrained by judge_grammar(120) ...
REAL_CONSTRAINED = [
    "The answer is Paris. The answer is not the capital of France, but Paris. I added 5 points. "
    "The answer is not the capital\nScore: 4",
    "The answer to the question of which city is capital of France is Paris. The answer is not "
    "only correct but also reflects\nScore: 1",
    "The answer to the question about the capital of France is Paris, the capital of France is "
    "indeed France.\nScore: 2",
]
# ... and a real constrained reply for the response "I like turtles." to "Explain
# photosynthesis in one sentence." (same settings): the judge scores the off-topic answer 1.
REAL_CONSTRAINED_OFF_TOPIC = (
    "The process of photosynthesis is a vital biological process that involves the conversion "
    "of light energy into chemical \u2013\nScore: 1"
)
# Real unconstrained replies (constrained: false): the model never writes the score line on its
# own (0 of 31 sampled replies did). The first two: max_tokens 120, same seed (the second cut
# off); the third: "Give three tips for staying healthy." / "Eat vegetables, sleep eight hours
# and walk every day.", T=1.0, top-p 1, seed 11, max_tokens 90 (numbers, but no score); the
# last two: "What is 12 times 3?" / "12 times 3 is 36.", same settings (a 0-4 and a 0-10 scale).
REAL_UNCONSTRAINED = [
    "The answer is Paris.",
    "The rain is a simple and beautiful thing, and it is so fair and just.\n\nRocks and trees can "
    "never be too beautiful, and the same applies to the rain.\n\nThe sky is a canvas filled with "
    "the colors of a rainbow, and the same applies to the rain.\n\nThe beauty of the world lies "
    "in the smallest details, and the same applies to the rain.\n\nThe beauty of the world lies "
    "in the simple things, and the same applies to the rain.\n\nThis is the perfect example of "
    "the beauty of nature, and the same applies to",
    "Sure, I'll provide a list of tips on maintaining a healthy lifestyle:\n\n1. Eat vegetables - "
    "10\n2. Sleep eight hours - 3\n3. Walk every day - 10\n4. Include diet in exercise plan - 8"
    "\n\nThe first tip involves eating vegetables and the second one is about sleep, and the "
    "third one includes exercise. The fourth tip is about diet, and the fifth one is about",
    "The AI assistant suggests a 4-point reduction to the answer, offering 2 out of 4 points.",
    "\"Smol: I would rate this a 9. It's an example of how AI can be used for creative and "
    'insightful purposes, while also showcasing a wide range of skill and expertise."',
]


def test_parse_score_on_real_replies():
    assert [parse_score(t) for t in REAL_CONSTRAINED] == [4, 1, 2]  # "added 5 points" ignored
    assert parse_score(REAL_CONSTRAINED_OFF_TOPIC) == 1
    assert [parse_score(t) for t in REAL_UNCONSTRAINED] == [None] * 5
    assert justification_of(REAL_CONSTRAINED[2]).endswith("indeed France.")


@pytest.mark.parametrize(
    ("text", "points"),
    [
        ("Relevant and direct.\nScore: 3", 3),
        ("**Score:** 4", 4),
        ("Score: 5/5", 5),
        ("I would give it a score of 2.", 2),
        ("Overall 4/5. Maybe 3 out of 5 on a bad day.", 3),  # the last statement counts
        ("It earns four out of five... Rating: 4 out of five", 4),
        ("Score: 3 early on.\nLater: Score: 1", 1),
        ("Score: 10", None),
        ("Score: 3.5", None),
        ("1. relevant 2. substantial", None),
        ("", None),
    ],
)
def test_parse_score_formats(text, points):
    assert parse_score(text) == points


def test_grammar_bounds_the_justification():
    assert judge_grammar(80) == 'root ::= [^\\n]{1,80} "\\nScore: " [0-5]'


def test_judgement_averages_samples_then_judges():
    texts = [REAL_CONSTRAINED, [REAL_CONSTRAINED_OFF_TOPIC, REAL_UNCONSTRAINED[0]]]
    result = judgement(["local:m", "openai:m2"], texts)
    judge = result["judge"]
    assert judge["scores"] == [4, 1, 2, 1]
    assert judge["by_judge"] == {"local:m": round(7 / 3, 4), "openai:m2": 1.0}
    assert result["score"] == round((7 / 3 + 1) / 2, 4)
    assert judge["unparsed"] == 1 and len(judge["justifications"]) == 4
    none = judgement(["local:m"], [REAL_UNCONSTRAINED])
    assert none["score"] is None and none["judge"]["by_judge"] == {}
    same = judgement(["local:m", "local:m"], [["Score: 1"], ["Score: 3"]])
    assert same["judge"]["by_judge"] == {"local:m": 1.0, "local:m#1": 3.0}


def _row(scores: list[float | None]) -> dict:
    completions = [
        {"model": f"m{i}", "response": f"answer {i}", "score": s} for i, s in enumerate(scores)
    ]
    return {"instruction": "Q", "completions": completions, "_meta": {"id": "r1"}}


def test_self_rewarding_pairs_highest_vs_lowest():
    step, ctx = Pairs(), StepContext(llm=None, run_seed=0, step_name="pairs")
    [pair] = asyncio.run(step.process(_row([3.0, 4.5, None, 1.0, 4.5]), ctx))
    assert (pair["chosen"], pair["rejected"]) == ("answer 1", "answer 3")  # first of the best
    assert (pair["chosen_score"], pair["rejected_score"]) == (4.5, 1.0)
    assert (pair["chosen_model"], pair["rejected_model"]) == ("m1", "m3")
    assert pair["pair_method"] == "self_rewarding.pairs" and "completions" not in pair
    assert pair["instruction"] == "Q" and pair["_meta"]["parents"] == ["r1"]
    [tied] = asyncio.run(step.process(_row([2.0, 2.0]), ctx))
    assert tied["_meta"]["error"]["kind"] == "tied"
    [few] = asyncio.run(step.process(_row([2.0, None]), ctx))
    assert few["_meta"]["error"]["kind"] == "too_few_scored"


@pytest.fixture(scope="module")
def second_judge():
    """The bundled model behind llama.cpp's HTTP server: a second, OpenAI-style judge."""
    server, url = start_llamacpp_http(KEY)
    yield url
    del server


def test_pointwise_two_judges_on_the_embedded_model(tmp_path, second_judge, monkeypatch):
    monkeypatch.setenv("K", KEY)
    completions = [{"model": "writer-a", "backend": "default", "response": ANSWER}]
    rows = [
        {"instruction": QUESTION, "completions": completions},
        {"instruction": "Name a primary color.", "response": "Blue is a primary color."},
    ]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    judge = {"type": "openai", "base_url": second_judge, "model": "smol", "api_key_env": "K"}
    params = {"samples": 2, "max_tokens": 40, "justification_chars": 60, "judges": ["default", "b"]}
    recipe = {
        "name": "judge_test",
        "backend": {"type": "local", "parallel": 4},
        "backends": {"b": judge},
        "steps": [
            {"method": "load", "params": {"path": str(data)}},
            {"method": "judge.pointwise", "params": params},
        ],
    }
    (tmp_path / "judge.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    records = run_recipe_twice(tmp_path, "judge.yaml")
    assert len(records) == 2
    models = {"local:SmolLM2-135M-Instruct.Q4_1.gguf", f"openai:smol@{second_judge}"}
    for item in [*records[0]["completions"], records[1]]:  # completions, or the row's response
        judged = item["judge"]
        assert len(judged["scores"]) + judged["unparsed"] == 4  # 2 judges x 2 samples
        assert all(0 <= s <= 5 for s in judged["scores"])
        assert set(judged["by_judge"]) <= models and judged["by_judge"]
        means = list(judged["by_judge"].values())
        assert item["score"] == round(sum(means) / len(means), 4)
        assert len(judged["justifications"]) == len(judged["scores"])
        assert all(len(j) <= 60 for j in judged["justifications"])
    assert [c["model"] for c in records[0]["completions"]] == ["writer-a"]
    assert len(records[0]["_meta"]["request"]) == 2  # one request (n=2) per completion and judge
    assert sorted(records[0]["_meta"]["models"]) == sorted(models)


def test_self_rewarding_recipe_on_the_embedded_model(tmp_path):
    records = run_recipe_twice(tmp_path, "self_rewarding", *SMALL_SELF_REWARDING)
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert len(records) + len(errors) == 2  # one pair or one dropped row per prompt
    assert records, "seed 0 and the first two seed tasks must give at least one pair"
    # the judged completions the pairs came from: the recipe without its pairs step, run on
    # the same request cache (no model call)
    recipe = yaml.safe_load(resolve_recipe_path("self_rewarding").read_text(encoding="utf-8"))
    assert recipe["steps"][-1]["method"] == "self_rewarding.pairs"
    recipe["steps"] = recipe["steps"][:-1]
    (tmp_path / "judged.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    out = tmp_path / "judged.jsonl"
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    judged_run = run_cli(
        "run",
        "judged.yaml",
        *SMALL_SELF_REWARDING,
        "--out",
        str(out),
        "--quiet",
        cwd=tmp_path,
        env=env,
    )
    assert judged_run.returncode == 0, judged_run.stderr
    assert summary_of(out)["llm"]["model_calls"] == 0
    judged = {row["instruction"]: row for row in read_jsonl(out)}
    for pair in records:
        assert pair["pair_method"] == "self_rewarding.pairs"
        completions = judged[pair["instruction"]]["completions"]
        scores = [c["score"] for c in completions]
        for completion in completions:  # each score: the mean of the judge's parsed samples
            judge = completion["judge"]
            assert 1 <= len(judge["scores"]) <= 2 and all(0 <= s <= 5 for s in judge["scores"])
            assert completion["score"] == round(sum(judge["scores"]) / len(judge["scores"]), 4)
        known = [s for s in scores if s is not None]
        best, worst = max(known), min(known)
        assert (pair["chosen_score"], pair["rejected_score"]) == (best, worst) and worst < best
        assert pair["chosen_index"] == scores.index(best)  # the first of the highest
        assert pair["rejected_index"] == scores.index(worst)  # the first of the lowest
        assert pair["chosen"] == completions[pair["chosen_index"]]["response"]
        assert pair["rejected"] == completions[pair["rejected_index"]]["response"]
    for error in errors:
        assert error["_meta"]["error"]["kind"] in ("tied", "too_few_scored")
        scores = {c["score"] for c in error["completions"] if c["score"] is not None}
        assert len(scores) <= 1
