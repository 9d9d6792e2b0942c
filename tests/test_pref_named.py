"""Starling/Nectar rankings, d-RLAIF scores, Safe RLHF labels, SALMON principles and OAIF
pairs: each method's defining rule, checked on real outputs of the embedded model."""

from __future__ import annotations

import random
from collections import Counter
from statistics import mean

import pytest
import yaml
from conftest import read_jsonl, run_recipe_twice, write_jsonl

from synthaug.engine.step import RowError
from synthaug.llm.types import Choice, Completion, TokenLogprob, Usage
from synthaug.methods.preference.d_rlaif import (
    digit_logprobs,
    reward,
    score_distribution,
    weighted_score,
)
from synthaug.methods.preference.nectar import aggregate, parse_ranking, permutation_grammar
from synthaug.methods.preference.salmon import INTERVENTIONS, PRINCIPLES, draw_principles

# Real first-token log-probabilities of the embedded SmolLM2-135M rating an answer with
# d_rlaif_score.j2 (reply forced to "10", top_logprobs 20): the digits found, and
# log p("0" | "1"); the step stored score 1.6282 for them.
REAL_FIRST = {"1": -2.011948823928833, "2": -4.332400321960449, "3": -4.669476509094238}
REAL_ZERO_AFTER_ONE = -2.8994534015655518
# The embedded model's ranking of 7 letters under permutation_grammar("ABCDEFG").
REAL_RANKING = "C > A > B > D > E > F > G"


def errors_of(tmp_path) -> list[dict]:
    path = tmp_path / "data.errors.jsonl"
    return read_jsonl(path) if path.exists() else []


def test_permutation_grammar_and_rank_aggregation():
    grammar = permutation_grammar("ABC")
    assert grammar.count("::=") == 1 + 7  # root and one rule per non-empty subset
    assert parse_ranking(REAL_RANKING, "ABCDEFG") == list("CABDEFG")
    assert parse_ranking("A > A > B", "ABC") is None and parse_ranking("A > B", "ABC") is None
    positions, ranks = aggregate([[2, 0, 1], [0, 2, 1], [2, 1, 0]], 3)
    assert positions == [
        round(mean([2, 1, 3]), 4),
        round(mean([3, 3, 2]), 4),
        round(mean([1, 2, 1]), 4),
    ]
    assert ranks == [2, 3, 1]
    assert aggregate([[0, 1], [1, 0]], 2) == ([1.5, 1.5], [1, 2])  # a tie: by index


def test_d_rlaif_score_from_real_logprobs():
    distribution = score_distribution(REAL_FIRST, REAL_ZERO_AFTER_ONE)
    assert list(distribution) == list(range(1, 11)) and sum(distribution.values()) == pytest.approx(
        1
    )
    assert distribution[4] == 0 and distribution[10] > 0
    assert distribution[10] / (distribution[1] + distribution[10]) == pytest.approx(
        2.718281828459045**REAL_ZERO_AFTER_ONE
    )
    assert round(weighted_score(distribution), 4) == 1.6282
    assert reward(1) == -1 and reward(10) == 1 and reward(5.5) == 0
    assert score_distribution({}, -1.0) == {}


def _forced(*tokens: TokenLogprob) -> Completion:
    return Completion(
        choices=[Choice(text="".join(t.token for t in tokens), logprobs=list(tokens))],
        usage=Usage(),
    )


def test_d_rlaif_reads_ten_as_two_tokens_or_one():
    top = [{"token": t, "logprob": lp} for t, lp in [("1", -1.0), (" 7", -2.0), ("10", -3.0)]]
    two = _forced(TokenLogprob(token="1", logprob=-1.0, top_logprobs=top),
                  TokenLogprob(token="0", logprob=-0.5))  # fmt: skip
    assert digit_logprobs(two) == ({"1": -1.0, "7": -2.0}, -0.5)  # "10" is no score here
    one = _forced(TokenLogprob(token="10", logprob=-3.0, top_logprobs=top))
    first, zero_after_one = digit_logprobs(one)
    assert first == {"1": -1.0, "7": -2.0, "10": -3.0} and zero_after_one is None
    distribution = score_distribution(first, None)
    total = sum(2.718281828459045**lp for lp in first.values())
    assert distribution[10] == pytest.approx(2.718281828459045**-3.0 / total)
    assert distribution[1] == pytest.approx(2.718281828459045**-1.0 / total)
    with pytest.raises(RowError, match="forced reply's tokens"):
        digit_logprobs(_forced(TokenLogprob(token="9", logprob=-1.0)))


def test_salmon_draws_by_weight_without_replacement():
    rng = random.Random(0)
    draws = [draw_principles(3, rng) for _ in range(3000)]
    assert all(len(set(d)) == 3 and set(d) <= set(PRINCIPLES) for d in draws)
    counts = Counter(name for d in draws for name in d)
    assert counts["Candor"] > 2 * counts["Vivid"]  # weight 4 against weight 1


ANSWERS = [
    {
        "instruction": "What is the capital of France?",
        "completions": [
            {"model": "writer-a", "response": "The capital of France is Paris."},
            {"model": "writer-b", "response": "I like turtles."},
            {"model": "writer-c", "response": "Paris."},
            {"model": "writer-d", "response": "Berlin is the capital of France."},
        ],
    }
]


def load_and(tmp_path, *steps: dict, rows: list[dict] = ANSWERS) -> str:
    """A recipe file: ``rows`` (default ANSWERS), then ``steps``, on the embedded model."""
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    recipe = {
        "name": "named_test",
        "backend": {"type": "local", "parallel": 4},
        "steps": [{"method": "load", "params": {"path": str(data)}}, *steps],
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return "recipe.yaml"


def test_nectar_ranks_under_shuffles_and_aggregates(tmp_path):
    recipe = load_and(tmp_path, {"method": "nectar.rank", "params": {"shuffles": 3}})
    [record] = run_recipe_twice(tmp_path, recipe)
    rankings, completions = record["rankings"], record["completions"]
    assert len(rankings) == 3 and len(record["_meta"]["request"]) == 3  # one call per shuffle
    assert len({tuple(r["order"]) for r in rankings}) > 1  # the orders were shuffled
    for shown in rankings:
        assert sorted(shown["order"]) == [0, 1, 2, 3] and sorted(shown["raw"]) == list("ABCD")
        assert shown["ranking"] == [shown["order"]["ABCD".index(x)] for x in shown["raw"]]
    positions, ranks = aggregate([r["ranking"] for r in rankings], 4)
    assert [c["mean_rank"] for c in completions] == positions
    assert [c["rank"] for c in completions] == ranks and sorted(ranks) == [1, 2, 3, 4]
    for c in completions:  # the mean position over the three shuffles
        assert c["mean_rank"] == round(mean(r["ranking"].index(completions.index(c)) + 1
                                            for r in rankings), 4)  # fmt: skip


def test_nectar_recipe_pairs_follow_the_ranks(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "nectar",
        "--limit", "1",
        "--set", "steps[1].params.per_prompt=3",
        "--set", "steps[1].params.max_tokens=8",
        "--set", "steps[2].params.shuffles=2",
    )  # fmt: skip
    assert 1 <= len(records) <= 3 and len(records) + len(errors_of(tmp_path)) >= 1
    for pair in records:
        assert pair["pair_method"] == "nectar.pairs"
        assert pair["chosen_rank"] < pair["rejected_rank"]
        assert "rankings" not in pair and "completions" not in pair


def test_d_rlaif_recipe_scores_from_stored_logprobs(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "d_rlaif",
        "--limit", "1",
        "--set", "steps[1].params.max_tokens=16",
    )  # fmt: skip
    [record] = records
    for completion in record["completions"]:
        label = completion["d_rlaif"]
        assert 1 <= label["score"] <= 10 and -1 <= label["reward"] <= 1
        again = score_distribution(label["first_token"], label["zero_after_one"])
        assert label["score"] == round(weighted_score(again), 4)
        assert label["reward"] == round(reward(weighted_score(again)), 4)
        assert sum(label["distribution"].values()) == pytest.approx(1, abs=1e-4)
    assert len(record["_meta"]["request"]) == 2  # one forced call per response


def test_safe_rlhf_records_reward_and_cost_labels(tmp_path):
    # the safety meta-labels as safety.label writes them (that step is tested with the
    # BeaverTails recipe); one answer labelled unsafe, one safe
    rows = [dict(ANSWERS[0], completions=[
        {**ANSWERS[0]["completions"][0], "safety": {"category": {}, "is_safe": True}},
        {**ANSWERS[0]["completions"][3], "safety": {"category": {}, "is_safe": False}},
    ])]  # fmt: skip
    recipe = load_and(
        tmp_path, {"method": "safe_rlhf.compare"}, {"method": "safe_rlhf.pairs"}, rows=rows
    )
    records = run_recipe_twice(tmp_path, recipe)
    errors = errors_of(tmp_path)
    rows = records + errors
    assert len(rows) == 2  # one comparison, two dimensions: a pair or an error row each
    assert sorted(r["preference"] for r in rows) == ["harmlessness", "helpfulness"]
    for row in rows:
        assert row["is_response_0_safe"] in (True, False) and row["is_response_1_safe"] in (
            True,
            False,
        )
    for pair in records:  # one comparison of completions 0 and 1: the ids are the indices
        key = "better" if pair["preference"] == "helpfulness" else "safer"
        assert pair[f"{key}_response_id"] == pair["chosen_index"]
        for side in ("chosen", "rejected"):
            safe = pair[f"is_response_{pair[side + '_index']}_safe"]
            assert pair[f"{side}_cost_sign"] == (-1 if safe else 1)
    for error in errors:
        assert error["_meta"]["error"]["kind"] == "inconsistent"


def test_salmon_judge_sees_drawn_and_intervention_principles(tmp_path):
    recipe = load_and(tmp_path, {"method": "salmon.judge"})
    [record] = run_recipe_twice(tmp_path, recipe)
    names, texts = record["principles"], record["judge_principles"]
    assert len(set(names)) == 3 and set(names) <= set(PRINCIPLES)
    assert texts[: len(INTERVENTIONS)] == list(INTERVENTIONS)
    assert all(any(t.startswith(f"{name}:") for t in texts) for name in names)
    assert len(record["comparisons"]) == 6 and len(record["_meta"]["request"]) == 12
    for compared in record["comparisons"]:
        assert compared["winner"] in ("a", "b", "inconsistent") and 0 <= compared["p_a"] <= 1


def test_oaif_pairs_from_two_policy_samples(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "oaif",
        "--limit", "1",
        "--set", "steps[1].params.max_tokens=16",
    )  # fmt: skip
    rows = records + errors_of(tmp_path)
    assert len(rows) == 1  # one comparison of the policy's two samples
    [row] = rows
    assert row["comparison"]["model_a"] == row["comparison"]["model_b"]  # both from the policy
    assert row["comparison"]["judge_model"].startswith("local:")
    if records:
        assert row["comparison"]["winner"] in ("a", "b") and row["chosen"] != row["rejected"]
    else:
        assert row["_meta"]["error"]["kind"] == "inconsistent"
