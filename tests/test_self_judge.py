"""Self-Judge: JSFT records and tournament self-rejection, the defining rules checked on real
outputs of the embedded model."""

from __future__ import annotations

from statistics import mean

import pytest
import yaml
from conftest import run_recipe_twice, write_jsonl

from synthaug.methods.preference.self_judge import (
    BASE,
    BASE_ASSISTANT,
    DECISION,
    PRINCIPLES,
    decide,
)

SMALL = ("--set", "backend.deterministic=true", "--set", "backend.threads=1", "--limit", "1")


def test_self_judge_match_rule():
    # p[template][order][A, B]; order 0 shows a as A
    assert decide([[[0.6, 0.3], [0.4, 0.5]]])["a_wins"]  # a: (0.6 + 0.5) / 2 > b: 0.35
    assert not decide([[[0.6, 0.3], [0.7, 0.2]]])["a_wins"]  # position bias: b wins on swap
    # two templates split: the higher mean score decides
    split = [[[0.9, 0.1], [0.1, 0.9]], [[0.4, 0.6], [0.55, 0.45]]]
    assert decide(split)["win_rate"] == 0.5 and decide(split)["a_wins"]
    assert not decide([[[0.5, 0.5], [0.5, 0.5]]])["a_wins"]  # an exact tie: the second side


def annotated(
    response: str, ratings: dict[str, int], system: str | None = None, note: str = "fine"
) -> dict:
    """A completion as ultrafeedback.rate writes it."""
    notes = {
        aspect: {"rating": r, "rationale": f"{aspect} of {response[:6]}: {note}"}
        for aspect, r in ratings.items()
    }
    notes["truthfulness"]["type_rationale"] = "no hallucination"
    return {"response": response, "system_prompt": system, "annotations": notes}


ROWS = [
    {
        "instruction": "Name a primary colour.",
        "completions": [
            annotated("Green.", dict.fromkeys(PRINCIPLES, 2)),
            annotated("Red is a primary colour.", dict.fromkeys(PRINCIPLES, 5), "Be brief."),
            annotated("Red.", dict.fromkeys(PRINCIPLES, 5)),  # same mean, shorter
            annotated(  # rationales that name "Text" are left out of principle pairs
                "Blue.",
                {"helpfulness": 4, "honesty": 4, "instruction_following": 1, "truthfulness": 3},
                note="worse than Text 2",
            ),
        ],
    }
]


def run_jsft(tmp_path, rationale: bool) -> list[dict]:
    data = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    recipe = {
        "name": "jsft_test",
        "steps": [
            {"method": "load", "params": {"path": str(data)}},
            {"method": "self_judge.jsft", "params": {"rationale": rationale}},
        ],
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return run_recipe_twice(tmp_path, "recipe.yaml")


@pytest.mark.parametrize("rationale", [False, True])
def test_jsft_records(tmp_path, rationale):
    records = run_jsft(tmp_path, rationale)
    sft, *judgments = records
    assert sft["jsft_task"] == "sft" and sft["chosen_index"] == 1  # best mean, longer on a tie
    assert sft["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a primary colour."},
        {"role": "assistant", "content": "Red is a primary colour."},
    ]
    completions = ROWS[0]["completions"]
    principles = list(PRINCIPLES) if rationale else [BASE]
    assert sorted({j["principle"] for j in judgments}) == sorted(principles)
    assert len(judgments) == 2 * len(principles)  # each comparison in both orders
    for first, second in zip(judgments[::2], judgments[1::2], strict=True):
        assert (first["position"], second["position"]) == ("A", "B")
        chosen, rejected, principle = (
            first["chosen_index"],
            first["rejected_index"],
            first["principle"],
        )
        key = "helpfulness" if principle == BASE else principle
        better = completions[chosen]["annotations"]
        worse = completions[rejected]["annotations"]
        if principle == BASE:
            assert mean(a["rating"] for a in better.values()) > mean(
                a["rating"] for a in worse.values()
            )
        else:
            assert better[key]["rating"] > worse[key]["rating"] and 3 not in (chosen, rejected)
        for record in (first, second):
            system, user, assistant = record["messages"]
            assert system["role"] == "system" and (
                principle == BASE or key in system["content"].replace(" ", "_")
            )
            shown_a = completions[chosen if record["position"] == "A" else rejected]["response"]
            assert f"Response A:\n-----\n{shown_a}\n-----" in user["content"]
            if principle == BASE:
                assert assistant["content"] == f"{BASE_ASSISTANT} {record['position']}"
            else:
                head, evaluation = assistant["content"].split(f" {record['position']}\n", 1)
                assert head.endswith(DECISION)
                assert evaluation.startswith("\nEvaluation of Response A: ")
                assert completions[chosen]["annotations"][key]["rationale"] in evaluation


def test_self_judge_recipe_jsft_from_the_models_own_ratings(tmp_path):
    records = run_recipe_twice(
        tmp_path, "self_judge", *SMALL,
        "--set", "steps[1].params.per_prompt=2",
        "--set", "steps[1].params.max_tokens=12",
        "--set", "steps[2].params.rationale_chars=12",
        "--set", "steps[2].params.max_tokens=200",
        "--set", "steps[2].params.critique_chars=20",
        "--set", "steps[2].params.critique_max_tokens=30",
    )  # fmt: skip
    sft, *judgments = records
    assert sft["jsft_task"] == "sft" and sft["messages"][-1]["role"] == "assistant"
    assert len(judgments) % 2 == 0 and {j["jsft_task"] for j in judgments} <= {"judgment"}
    for first, second in zip(judgments[::2], judgments[1::2], strict=True):
        assert first["principle"] == second["principle"] in PRINCIPLES
        assert first["chosen_rating"] > first["rejected_rating"]  # the model's own ratings
        assert first["messages"][-1]["content"].split(DECISION)[1].startswith(" A\n")
        assert second["messages"][-1]["content"].split(DECISION)[1].startswith(" B\n")


def test_self_judge_tournament_on_the_model(tmp_path):
    records = run_recipe_twice(
        tmp_path, "self_judge_rejection", *SMALL,
        "--set", "steps[1].params.per_prompt=3",
        "--set", "steps[1].params.max_tokens=16",
    )  # fmt: skip
    [record] = records
    first, second = record["tournament"]
    assert len(first["byes"]) == 1 and len(first["matches"]) == 1  # 3 entrants: one bye
    match = first["matches"][0]
    assert sorted([*first["byes"], match["a"], match["b"]]) == [0, 1, 2]
    final = second["matches"][0]
    assert {final["a"], final["b"]} == {first["byes"][0], match["winner"]}
    assert record["best_index"] == final["winner"]
    assert record["response"] == record["completions"][final["winner"]]["response"]
    for m in (match, final):
        assert all(0 <= x <= 1 for order in m["p"][0] for x in order)
        again = decide(m["p"])
        assert m["winner"] == (m["a"] if again["a_wins"] else m["b"])
        assert m["scores"] == again["scores"]
    assert len(record["_meta"]["request"]) == 4  # two matches, each in both orders
