"""Self-Refine (self_refine.loop): feedback schema, stop rule, history, on the embedded model."""

from __future__ import annotations

import json

import pytest
from conftest import read_jsonl, run_recipe_twice

from synthaug.methods.preference.self_refine import (
    Loop,
    feedback_schema,
    parse_feedback,
    refine_prompt,
    stop_reason,
)

TASK = "What is the relation between the given pairs?\nNight : Day :: Right : Left"
# Real replies of the embedded SmolLM2-135M (recipe self_refine, seed 0, max_tokens 48,
# feedback_max_tokens 96, feedback_chars 160) for TASK: its first output, the feedback on it
# (under the feedback schema), its refinement (which echoes the refine prompt's layout), and
# the feedback on that.
REAL_FIRST = (
    "The given pairs are:\nDay (Morning) and Night (Night)\nMorning and Night\nRight and Left"
)
REAL_FEEDBACK = '{\n    "feedback": "A",\n    "score": 1,\n    "stop": false\n}'
REAL_SECOND = (
    "Task: What is the relation between the given pairs?\nNight : Day\nMorning and Night\n"
    "Right and Left\n\nAttempt 2:\nThe given pairs are:\nDay (Morning) and Night (Night)"
)
REAL_SECOND_FEEDBACK = (
    '{\n  "feedback": "The given pairs are: Day (Morning) and Night (Night) and the correct '
    'answer is not provided.",\n  "score": 1,\n  "stop": false\n}'
)
# A real feedback reply on REAL_FIRST with feedback_max_tokens 32 (feedback_chars 400): cut off.
REAL_CUT_OFF_FEEDBACK = (
    '{\n    "feedback": "The given pairs are not a good match for a response that needs '
    'improvement. The first pair ", "s'
)


def test_feedback_schema_bounds_the_text_and_the_scores():
    schema = feedback_schema(None, 160)
    assert list(schema["properties"]) == ["feedback", "score", "stop"]
    assert schema["properties"]["feedback"]["maxLength"] == 160
    assert schema["properties"]["score"]["enum"] == list(range(1, 11))
    per_aspect = feedback_schema(["relevant", "informative"])
    assert list(per_aspect["properties"]) == ["feedback", "scores", "stop"]
    scores = per_aspect["properties"]["scores"]
    assert scores["required"] == ["relevant", "informative"]
    assert scores["properties"]["informative"]["enum"] == list(range(1, 11))


def test_parse_feedback_on_real_replies():
    assert parse_feedback(REAL_FEEDBACK) == {"feedback": "A", "score": 1, "stop": False}
    second = parse_feedback(REAL_SECOND_FEEDBACK)
    assert second["score"] == 1 and second["feedback"].endswith("is not provided.")
    assert parse_feedback(REAL_CUT_OFF_FEEDBACK) is None
    assert parse_feedback(REAL_FEEDBACK, ["relevant"]) is None  # no per-aspect scores
    aspects = json.dumps({"feedback": "Too short.", "scores": {"a": 4, "b": 7}, "stop": False})
    assert parse_feedback(aspects, ["a", "b"]) == {
        "feedback": "Too short.",
        "score": 5.5,
        "scores": {"a": 4, "b": 7},
        "stop": False,
    }
    assert parse_feedback(aspects.replace("7", "11"), ["a", "b"]) is None
    assert parse_feedback('{"feedback": "ok", "score": true, "stop": false}') is None


def test_stop_rule():
    feedback = parse_feedback(REAL_FEEDBACK)
    assert stop_reason(feedback, 0, 4, 9) is None
    assert stop_reason(feedback, 3, 4, 9) == "max_iterations"
    assert stop_reason({**feedback, "stop": True}, 0, 4, 9) == "feedback"
    assert stop_reason({**feedback, "score": 9}, 0, 4, 9) == "score"
    assert stop_reason({**feedback, "stop": True, "score": 10}, 3, 4, 9) == "feedback"
    assert stop_reason(feedback, 0, 1, 9) == "max_iterations"


def test_refine_prompt_holds_the_whole_history():
    history = [
        {"response": REAL_FIRST, **parse_feedback(REAL_FEEDBACK)},
        {"response": REAL_SECOND, **parse_feedback(REAL_SECOND_FEEDBACK)},
    ]
    prompt = refine_prompt(TASK, history)
    assert prompt.startswith(f"Task: {TASK}\n")
    positions = [
        prompt.index("Attempt 1:\n" + REAL_FIRST),
        prompt.index("Feedback on attempt 1 (score 1/10):\nA"),
        prompt.index("Attempt 2:\n" + REAL_SECOND),
        prompt.index("Feedback on attempt 2 (score 1/10):\nThe given pairs are: Day"),
        prompt.index("Write a better response"),
    ]
    assert positions == sorted(positions)


def test_params_defaults_are_the_papers():
    p = Loop().params
    assert (p.max_iterations, p.temperature, p.prompt_column) == (4, 0.7, "instruction")
    with pytest.raises(ValueError):
        Loop(aspects=[])


def test_self_refine_recipe_records_iterations_and_pairs(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "self_refine",
        "--limit", "2",
        "--set", "steps[1].params.max_iterations=2",
        "--set", "steps[1].params.max_tokens=40",
        "--set", "steps[1].params.feedback_max_tokens=64",
        "--set", "steps[1].params.feedback_chars=120",
    )  # fmt: skip
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert {e["_meta"]["error"]["kind"] for e in errors} <= {"unparseable_feedback"}
    assert len(records) + len(errors) == 2 and records
    for record in records:
        iterations = record["iterations"]
        assert 1 <= len(iterations) <= 2
        assert all(set(it) == {"response", "feedback", "score"} for it in iterations)
        assert all(1 <= it["score"] <= 10 and len(it["feedback"]) <= 120 for it in iterations)
        assert record["response"] == iterations[-1]["response"]
        assert len(record["_meta"]["request"]) == 2 * len(iterations)
        last = iterations[-1]
        if record["stopped_by"] == "max_iterations":
            assert len(iterations) == 2 and last["score"] < 9
        elif record["stopped_by"] == "score":
            assert last["score"] >= 9
        else:
            assert record["stopped_by"] == "feedback"
        assert all(it["score"] < 9 for it in iterations[:-1])  # only the last may stop
        if iterations[-1]["response"] != iterations[0]["response"]:
            assert record["chosen"] == record["response"]
            assert record["rejected"] == iterations[0]["response"]
            assert (record["chosen_score"], record["rejected_score"]) == (
                last["score"],
                iterations[0]["score"],
            )
            assert record["pair_method"] == "self_refine.loop"
        else:
            assert record["chosen"] is record["rejected"] is record["pair_method"] is None
