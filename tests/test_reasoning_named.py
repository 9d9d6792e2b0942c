"""MathGenie (augment -> back-translate -> verification filter) and LMSI (self-consistency on
unlabelled questions, four formats): each method's rule, checked on real outputs of the
embedded model."""

from __future__ import annotations

from conftest import read_jsonl, run_recipe_twice

from synthaug.methods.reasoning.lmsi import FORMATS, ZERO_SHOT_COT, formats, majority
from synthaug.methods.reasoning.mathgenie import verdict
from synthaug.verify.math_answer import answers_match, normalize, stated_answer


def errors_of(tmp_path) -> list[dict]:
    path = tmp_path / "data.errors.jsonl"
    return read_jsonl(path) if path.exists() else []


def test_majority_vote_and_formats():
    winner, votes = majority(["12", None, "$12", "7", "7", "12.0"])
    assert winner == normalize("12") and votes[winner] == 3 and sum(votes.values()) == 5
    assert majority(["3", "4"])[0] == "3"  # a tie: the answer reached first
    assert majority([None, None]) == (None, {})
    shaped = formats("How many?", "2 + 2 = 4.", "4")
    assert list(shaped) == list(FORMATS)
    assert shaped["zero_shot_cot"] == (f"Q: How many?\nA: {ZERO_SHOT_COT}", " 2 + 2 = 4.")
    assert shaped["few_shot_direct"][1] == " The answer is 4."
    assert shaped["few_shot_cot"][0].count("Q: ") == 7  # six exemplars and the question
    assert "The answer is" in shaped["few_shot_direct"][0]


def test_verdict_lines():
    assert verdict("Step one holds.\nVerdict: correct") == "correct"
    assert verdict("Verdict: correct. Wait.\nVerdict: Incorrect") == "incorrect"
    assert verdict("Looks fine.") is None


def test_lmsi_keeps_only_majority_paths(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "lmsi",
        "--limit", "1",
        "--set", "steps[1].params.paths=3",
        "--set", "steps[1].params.samples_per_call=3",
        "--set", "steps[1].params.max_tokens=40",
    )  # fmt: skip
    errors = errors_of(tmp_path)
    kept = [r for r in records if r["format"] == FORMATS[0]]
    assert len(records) == 4 * len(kept)  # every kept path in the four formats
    assert len(kept) + len(errors) == 3  # every sampled path is a record or an error row
    for record in kept:
        assert answers_match(stated_answer(record["rationale"], False)[0], record["answer"])
        assert record["votes"][record["answer"]] == max(record["votes"].values())
        assert record["consistency"] == round(
            record["votes"][record["answer"]] / sum(record["votes"].values()), 4
        )
        assert isinstance(record["majority_correct"], bool)
    for error in errors:
        assert error["_meta"]["error"]["kind"] in ("minority_answer", "no_answer")
        found = stated_answer(error["rationale"], False)[0]
        if kept and found is not None:
            assert not answers_match(found, kept[0]["answer"])
    assert {r["format"] for r in records} <= set(FORMATS)


def test_mathgenie_augments_backtranslates_and_keeps_verified(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "mathgenie",
        "--limit", "1",
        "--set", "steps[1].params.rounds=2",
        "--set", "steps[1].params.max_tokens=64",
        "--set", "steps[2].params.max_tokens=48",
        "--set", "steps[3].params.max_tokens=64",
        "--set", "steps[3].params.verify_max_tokens=48",
        "--set", "steps[3].params.rationale_chars=80",
    )  # fmt: skip
    errors = [e for e in errors_of(tmp_path) if e["_meta"]["step"] == "verify"]
    rows = records + errors
    assert sorted(r["round"] for r in rows) == [1, 2]  # one new question per augmentation round
    for row in rows:
        assert row["question"] != row["seed_question"]  # back-translated, not the seed
        assert row["verdict"] in ("correct", "incorrect")  # the grammar's verdict line
        assert row["verification_rationale"].endswith(f"Verdict: {row['verdict']}")
    for record in records:
        assert record["verdict"] == "correct" and record["answer"] is not None
    for error in errors:
        kind = error["_meta"]["error"]["kind"]
        assert kind == ("no_answer" if error["answer"] is None else "verified_incorrect")
