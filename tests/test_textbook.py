"""Textbook generation (phi-1 / phi-1.5): constraints, topic lists and exercise parsing on
recorded outputs, and a run on the embedded model."""

from __future__ import annotations

import json
import random

import pytest
from conftest import run_cli, run_recipe_twice

from synthaug.errors import InputError
from synthaug.methods.pretrain.textbook import (
    SIGNATURE,
    TextbookParams,
    draw_slots,
    parse_exercise,
    parse_text,
    parse_topics,
    read_topics,
    topics_schema,
)

# recorded from SmolLM2-135M answering textbook_exercise.j2 under EXERCISE_SCHEMA
REPEATED_SIGNATURE = (
    '{\n  "signature": "def prime(n):",\n  "docstring": "Returns a function that returns the '
    'greatest common divisor of n and n, where n is an integer.",\n  "body": "def prime(n):"\n}'
)
CUT_OFF = '{\n    "signature": "dyn_dp(m, n, k=",\n    "docstring": "<string> * # {type} # * '
DOCSTRING_REPEATS = '{\n    "signature": "def sort_by_descending(items, ascending):","docstring": "def sort_by_descending(items, ascending):",\n    "body":\n\n"def sort_by_descending(items, ascending):"\n\n}'
BODY_REPEATS = '{"signature": "def string_manipulation(func, arg1, arg2, arg3, arg4, arg5, arg6, arg7, arg8, arg9, ):",\n "docstring": "def string_manipulation(func, arg1, arg2, arg3, arg4, arg5, arg6, arg7, arg8, arg9, )","body": "def string_manipulation(func, arg1, arg2, arg3, arg4, arg5, arg6, arg7, arg8, arg9, ):}"}'
# hand-written (the 135M model did not produce a usable exercise in the recorded samples)
GOOD_EXERCISE = json.dumps(
    {
        "signature": "def count_vowels(text):",
        "docstring": "Return how many vowels (a, e, i, o, u) the string text contains.",
        "body": "return sum(ch in 'aeiou' for ch in text.lower())",
    }
)
# recorded from SmolLM2-135M answering textbook_topics.j2 under topics_schema(3)
TOPICS_REPLY = '{\n  "topics": [\n    "Math",\n    "C++",\n    "Python"\n  ]\n}'

SECTION_SLOTS = {"topic": "recursion", "audience": "a", "style": "b", "kind": "section"}


def test_every_prompt_is_constrained_on_topic_audience_style():
    params = TextbookParams(kinds=["section", "exercise"])
    topics = read_topics(None)
    draws = [draw_slots(random.Random(seed), topics, params) for seed in range(300)]
    assert draws == [draw_slots(random.Random(seed), topics, params) for seed in range(300)]
    assert {d["kind"] for d in draws} == {"section", "exercise"}
    assert {d["audience"] for d in draws} == set(params.audiences)
    assert {d["style"] for d in draws} == set(params.styles)
    assert len({(d["topic"], d["audience"], d["style"]) for d in draws}) > 250


def test_topic_list_file(tmp_path):
    assert len(read_topics(None)) >= 40 and "recursion" in read_topics(None)
    path = tmp_path / "topics.txt"
    path.write_text("# my topics\nfractions\n\n  tides  \n", encoding="utf-8")
    assert read_topics(str(path)) == ["fractions", "tides"]
    with pytest.raises(InputError, match="cannot read"):
        read_topics(str(tmp_path / "missing.txt"))
    path.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        read_topics(str(path))


def test_generated_topics_parse():
    schema = topics_schema(3)["properties"]["topics"]
    assert schema["minItems"] == schema["maxItems"] == 3
    assert parse_topics(TOPICS_REPLY) == ["Math", "C++", "Python"]
    assert parse_topics('{"topics": ["loops", "Loo') == []
    assert parse_topics('{"topics": ["loops", " loops ", ""]}') == ["loops"]


def test_exercise_parsing_on_recorded_replies():
    assert parse_exercise(REPEATED_SIGNATURE) is None  # the body only repeats the signature
    assert parse_exercise(CUT_OFF) is None
    assert parse_exercise(DOCSTRING_REPEATS) is None and parse_exercise(BODY_REPEATS) is None
    exercise = parse_exercise(GOOD_EXERCISE)
    reply = json.loads(GOOD_EXERCISE)
    assert exercise["exercise_prompt"].startswith(reply["signature"] + '\n    """')
    assert exercise["text"] == exercise["exercise_prompt"] + exercise["solution"]
    assert exercise["solution"] == "    return sum(ch in 'aeiou' for ch in text.lower())\n"
    namespace: dict = {}
    exec(compile(exercise["text"], "<exercise>", "exec"), namespace)
    assert namespace["count_vowels"]("Banana") == 3
    assert SIGNATURE.match("def add(a, b) -> int:") and not SIGNATURE.match("Python")


def test_sections_keep_their_constraints():
    record = parse_text("  A section.\n", SECTION_SLOTS)
    assert record == {
        **SECTION_SLOTS,
        "text": "A section.",
        "exercise_prompt": None,
        "solution": None,
    }
    assert parse_text("   ", SECTION_SLOTS) is None


def test_textbook_recipe_on_the_embedded_model(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "textbook",
        "--set",
        "steps[0].params.num_texts=2",
        "--set",
        "steps[0].params.kinds=[section]",
        "--set",
        "steps[0].params.generate_topics=3",
        "--set",
        "steps[0].params.topics_max_tokens=64",
        "--set",
        "steps[0].params.max_tokens=40",
    )
    assert len(records) == 2
    params = TextbookParams()
    for record in records:
        assert record["text"] and record["kind"] == "section" and record["topic"]
        assert record["audience"] in params.audiences and record["style"] in params.styles
        meta = record["_meta"]
        assert meta["method"] == "textbook.generate" and meta["parents"] == []
        assert len(meta["request"]) == 2  # the topic-list call, then the section's own call
    assert records[0]["_meta"]["request"][0] == records[1]["_meta"]["request"][0]
    bad = run_cli("run", "textbook", "--set", "steps[0].params.kinds=[poem]", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[0].params.kinds" in bad.stderr
