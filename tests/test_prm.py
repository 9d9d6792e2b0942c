"""Math-Shepherd process labels (prm.label): step splitting, label rules, e2e on the embedded
model (which rarely solves these problems: the checks are on the algorithm and the evidence)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_recipe_twice

from synthaug.methods.reasoning.prm import JUDGE_LABELS, prm800k_rating, rollout, split_steps
from synthaug.verify.evidence import reverify, step_label
from synthaug.verify.math_answer import check_answer
from synthaug.verify.sandbox import Sandbox

GOLD_SOLUTION = (
    "First find how long it takes Emma to peel the clam: 120 clam / 5 clam/minute = 24 minutes\n"
    "Then find how many batches of clam she needs to cook: 120 clam / 30 clam/batch = 4 batches\n"
    "Then multiply the number of batches by the time per batch to find the total cook time: "
    "4 batches * 8 minutes/batch = 32 minutes\n"
    "Then add the peeling time to find the total time Emma spends: 32 minutes + 24 minutes = "
    "56 minutes\n#### 56"
)
# a solution the embedded model (SmolLM2-135M-Instruct) wrote for the prm_solve prompt
MODEL_SOLUTION = (
    "1. The process of how to solve the equation:\n"
    "Step 1: First, you need to determine the number of minutes that Isabella can peel and "
    "saute 30 mushrooms.\n"
    "Step 2: You have to divide 4 by 30, which means you are multiplying the number of minutes "
    "by 30.\n\n"
    "2. You need to determine the number of minutes that Isabella can peel and saute 4 "
    "mushrooms.\n"
    "Step 3: You are dividing 4 by 30, which means you are multiplying the number of minutes by "
    "3.\n\n"
    "3. Now you have to divide 240 by 4, which means you are multiplying the number of minutes "
    "by 2.\n"
    "Step 4: Now you are dividing the number of minutes by 2, which means you are multiplying "
    "the number of minutes by 4.\n\n"
    "The answer is N, where N is the final answer.\n\nThe answer is 18."
)


def test_split_steps_by_lines_joins_the_answer_marker_to_the_last_step():
    steps = split_steps(GOLD_SOLUTION)
    assert len(steps) == 4
    assert steps[0].startswith("First find") and steps[-1].endswith("= 56 minutes\n#### 56")
    assert check_answer(steps[-1], "56")["match"]


def test_split_steps_by_step_markers():
    steps = split_steps(MODEL_SOLUTION)
    assert len(steps) == 4
    assert steps[0].startswith("1. The process of how to solve the equation:\nStep 1: First")
    assert [s.split("\n")[-1].split(":")[0] for s in steps[:1]] == ["Step 1"]
    assert all(step.startswith(f"Step {k}:") for k, step in enumerate(steps[1:], 2))
    assert steps[1].endswith("saute 4 mushrooms.")  # text up to the next marker stays whole
    assert steps[-1].endswith("The answer is 18.")
    assert check_answer(steps[-1], "220") == {
        "extracted": "18",
        "form": "answer_is",
        "gold": "220",
        "match": False,
    }
    text = "Let's solve it.\nStep 1: a\nmore of a\n**Step 2**: b\nSo the answer is 3"
    assert split_steps(text) == [
        "Let's solve it.\nStep 1: a\nmore of a",
        "**Step 2**: b\nSo the answer is 3",
    ]
    assert split_steps("  \n") == []
    assert split_steps("12 + 3 = 15\nThe answer is 15") == ["12 + 3 = 15\nThe answer is 15"]


@pytest.mark.parametrize(
    ("matches", "rule", "label", "rating"),
    [
        ([False, False], "hard", 0, -1),
        ([False, True], "hard", 1, 1),
        ([True, True], "hard", 1, 1),
        ([False, False, False], "soft", 0.0, -1),
        ([True, False, False], "soft", 0.3333, 0),
        ([True, True, True], "soft", 1.0, 1),
    ],
)
def test_labels_and_prm800k_ratings(matches, rule, label, rating):
    assert step_label(matches, rule) == label
    assert prm800k_rating(step_label(matches, rule), rule) == rating


def test_rollout_records_the_check():
    assert rollout("so 24 + 32 = 56. The answer is 56", "56") == {
        "text": "so 24 + 32 = 56. The answer is 56",
        "extracted": "56",
        "match": True,
    }
    assert rollout("", "56")["match"] is False


def test_prm_recipe_labels_steps_from_rollouts(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "prm",
        "--limit",
        "2",
        "--set",
        "steps[1].params.samples=1",
        "--set",
        "steps[1].params.completions=2",
        "--set",
        "steps[1].params.max_tokens=64",
        "--set",
        "steps[1].params.max_steps=6",
    )
    sources = [r["solution_source"] for r in records]
    assert sources.count("gold") == 2  # every gold solution has at most 6 steps
    sandbox = Sandbox()
    for record in records:
        v = record["verification"]
        assert v["kind"] == "step_labels" and v["rule"] == "hard" and v["gold"] == record["answer"]
        assert len(record["steps"]) == len(record["labels"]) == len(v["steps"]) >= 1
        assert split_steps(record["solution"]) == record["steps"]
        for k, step in enumerate(v["steps"]):
            last = k == len(v["steps"]) - 1
            assert len(step["rollouts"]) == (1 if last else 2)
            if last:  # the whole solution is its own rollout
                assert step["rollouts"][0]["text"] == record["solution"]
            for r in step["rollouts"]:
                assert r["match"] == check_answer(r["text"], v["gold"])["match"]
            assert step["label"] == record["labels"][k]
            assert step["label"] == int(any(r["match"] for r in step["rollouts"]))
        assert record["ratings"] == [1 if label else -1 for label in record["labels"]]
        assert asyncio.run(reverify(v, sandbox))
        if record["solution_source"] == "gold":  # the gold path ends at the gold answer
            assert record["labels"][-1] == 1


def test_prm_judge_mode_gives_constrained_labels(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "prm",
        "--limit",
        "1",
        "--set",
        "steps[1].params.mode=judge",
        "--set",
        "steps[1].params.solutions=gold",
    )
    assert len(records) == 1
    record = records[0]
    assert record["label_rule"] == "judge" and "verification" not in record
    assert len(record["labels"]) == len(record["steps"]) == 4
    assert all(label in JUDGE_LABELS for label in record["labels"])
    assert record["ratings"] == [JUDGE_LABELS[label] for label in record["labels"]]
