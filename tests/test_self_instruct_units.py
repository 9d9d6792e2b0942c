"""Self-Instruct's parsing and filters on outputs recorded from the embedded model, and the
fine-tuning format of the reference's prepare_for_finetuning.py."""

from __future__ import annotations

import asyncio

from synthaug.engine.step import StepContext
from synthaug.methods.instruct.self_instruct import (
    Format,
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
    assert strip_single_field_prefix("Input 1: foo") == "foo"  # one distinct word before ":"
    two = "Sentence 1: a\nSentence: b"
    assert strip_single_field_prefix(two) == two
    assert strip_single_field_prefix("The time is 10:30") == "The time is 10:30"
    assert strip_single_field_prefix("See http://a.b") == "See http://a.b"


# yizhongw/self-instruct, self_instruct/prepare_for_finetuning.py, encode_instance: the 7 + 6
# prompt templates, rendered for instruction "Add the numbers." and input "2 + 3"; the
# completion has a leading space after the prompts that end with "Output:".
WITH_INPUT = {
    "Add the numbers.\nInput: 2 + 3\nOutput:",
    "Add the numbers.\n\nInput: 2 + 3\n\nOutput:",
    "Task: Add the numbers.\nInput: 2 + 3\nOutput:",
    "Add the numbers.\n\n2 + 3\n\nOutput:",
    "Add the numbers.\n\n2 + 3\n\n",
    "Add the numbers.\n2 + 3\n\n",
    "Task: Add the numbers.\n\n2 + 3\n\n",
}
WITHOUT_INPUT = {
    "Add the numbers. Output:",
    "Add the numbers.\nOutput:",
    "Add the numbers.\n\nOutput:",
    "Add the numbers.\n",
    "Add the numbers.\n\n",
    "Task: Add the numbers.\n\n",
}
CTX = StepContext(llm=None, run_seed=0, step_name="records")


def formatted(instances: list[dict], row_id: str, **params) -> list[dict]:
    row = {"instruction": " Add the numbers. ", "instances": instances, "_meta": {"id": row_id}}
    return asyncio.run(Format(**params).process(row, CTX))


def test_format_uses_the_reference_templates_and_leading_space_rule():
    prompts = set()
    for i in range(80):
        records = formatted(
            [{"input": "2 + 3 ", "output": " 5"}, {"input": "", "output": "Five"}], f"t{i}"
        )
        assert len(records) == 2
        for record in records:
            prompts.add(record["prompt"])
            space = " " if record["prompt"].endswith("Output:") else ""
            assert record["completion"] == space + record["output"] + "<|endoftext|>"
            assert record["instruction"] == "Add the numbers." and record["output"] in ("5", "Five")
    assert prompts == WITH_INPUT | WITHOUT_INPUT


def test_format_samples_at_most_five_instances_per_task_seeded():
    instances = [{"input": f"{k} + {k}", "output": str(2 * k)} for k in range(8)]
    chosen = []
    for i in range(12):
        records = formatted(instances, f"task-{i}")
        assert len(records) == 5
        assert records == formatted(instances, f"task-{i}")  # seeded by the row
        chosen.append(frozenset(r["input"] for r in records))
    assert len(set(chosen)) > 1  # not always the first five
    assert any(not c <= {f"{k} + {k}" for k in range(5)} for c in chosen)
    assert len(formatted(instances, "task-0", max_instances=3)) == 3


def test_format_strips_a_lone_field_label_and_double_line_breaks_half_of_the_time():
    seen = set()
    for i in range(40):
        (record,) = formatted([{"input": "Sentence: a\n\nb", "output": "c"}], f"s{i}")
        assert record["input"] == "Sentence: a\n\nb"  # the record keeps the instance's input
        seen.add("Sentence:" in record["prompt"])
        if "Sentence:" not in record["prompt"]:
            assert "a\nb" in record["prompt"] and "a\n\nb" not in record["prompt"]
    assert seen == {True, False}
