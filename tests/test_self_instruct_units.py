"""Self-Instruct's parsing and filters on outputs recorded from the embedded model."""

from __future__ import annotations

from synthaug.methods.instruct.self_instruct import (
    filter_instances,
    parse_examples,
    passes_filters,
    split_listed_instructions,
    strip_single_field_prefix,
)

# recorded from SmolLM2-135M-Instruct continuing a Self-Instruct list at "9."
RECORDED_LIST = (
    " Create a new item using the items of the original item.\n10. Determine the longest"
    " word in a sentence.\n11. Use the fastest algorithm possible to find "
)
RECORDED_TRUNCATED = (
    '{\n  "examples": [\n    {\n      "class_label": "yes",\n      "input": "The person'
    ' who I am is Emily Wilson"\n    },\n    {\n      "class_label": "no",\n     '
)


def test_split_listed_instructions():
    items = split_listed_instructions(RECORDED_LIST)
    assert items[:2] == [
        "Create a new item using the items of the original item.",
        "Determine the longest word in a sentence.",
    ]


def test_instruction_filters():
    assert passes_filters("Determine the longest word in a sentence.")
    assert not passes_filters("Sort three words")  # ≤ 3 words
    assert not passes_filters("Draw a picture of a cat please")  # blacklist
    assert not passes_filters("Describe the given image in detail")  # blacklist
    assert not passes_filters("Write a program that adds two numbers")
    assert not passes_filters('"Quote the best line of the poem')
    assert not passes_filters("Éclair recipes for a party of ten")
    assert not passes_filters(" ".join(["word"] * 151))


def test_truncated_examples_keep_complete_items_only():
    examples = parse_examples(RECORDED_TRUNCATED, truncated=True)
    assert examples == [{"class_label": "yes", "input": "The person who I am is Emily Wilson"}]


def test_instance_filters():
    raw = [
        {"input": "2 + 2", "output": "4"},
        {"input": "2 + 2", "output": "4"},  # exact duplicate
        {"input": "same", "output": "same"},  # input == output
        {"input": "x", "output": ""},  # empty output
        {"input": "Sentence:", "output": "y"},  # trailing colon
    ]
    assert filter_instances(raw, classification=False) == [{"input": "2 + 2", "output": "4"}]
    conflicting = [{"input": "a", "output": "1"}, {"input": "a", "output": "2"}]
    assert filter_instances(conflicting, classification=False) == []
    labelled = [{"class_label": "Positive", "input": "I loved it"}]
    assert filter_instances(labelled, classification=True) == [
        {"input": "I loved it", "output": "Positive"}
    ]


def test_strip_single_field_prefix():
    assert strip_single_field_prefix("Sentence: I am here.") == "I am here."
    two = "Sentence 1: a\nSentence: b"
    assert strip_single_field_prefix(two) == two
