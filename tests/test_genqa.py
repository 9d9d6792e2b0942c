"""GenQA generator prompts: schema, parsing and the index check, and a run on the embedded model."""

from __future__ import annotations

import json

from conftest import run_recipe_twice

from synthaug.methods.instruct.genqa import parse_generation, response_schema

SLOTS = {"topic": "science", "kind": "topics", "size": 3, "index": 2, "sub_index": 3}


def test_schema_follows_the_prompt_order():
    nested = response_schema("generator_nested", 3)
    assert list(nested["properties"]) == [
        "items",
        "chosen",
        "subitems",
        "chosen_subitem",
        "question",
        "answer",
    ]
    assert (
        nested["properties"]["items"]["minItems"] == 3 == nested["properties"]["items"]["maxItems"]
    )
    assert list(response_schema("static", 3)["properties"]) == ["question", "answer"]


def test_parse_generator_reply_and_index_check():
    reply = {
        "items": ["physics", "chemistry", "biology"],
        "chosen": "chemistry",
        "question": "Why does salt dissolve in water?",
        "answer": "Water molecules are polar and pull the ions apart.",
    }
    record = parse_generation(json.dumps(reply), "generator_conditional", SLOTS)
    assert (
        record["genqa_pick"] == "chemistry"
        and record["genqa_index"] == 2
        and record["genqa_index_kept"]
    )
    assert record["messages"][1]["content"] == reply["answer"]
    wrong = parse_generation(
        json.dumps({**reply, "chosen": "physics"}), "generator_conditional", SLOTS
    )
    assert wrong["genqa_index_kept"] is False
    nested = {
        "items": ["a", "b", "c"],
        "chosen": "b",
        "subitems": ["x", "y", "z"],
        "chosen_subitem": "z",
        "question": "Q?",
        "answer": "A.",
    }
    assert (
        parse_generation(json.dumps(nested), "generator_nested", SLOTS)["genqa_index_kept"] is True
    )
    conditional = parse_generation('{"question": "Q?", "answer": "A."}', "conditional", SLOTS)
    assert conditional["genqa_pick"] == "science" and conditional["genqa_index"] is None


def test_unusable_replies_are_skipped():
    assert parse_generation('{"question": "Q?", "ans', "static", SLOTS) is None  # cut off
    assert parse_generation('{"question": "", "answer": "A."}', "static", SLOTS) is None


def test_genqa_recipe_on_the_embedded_model_and_warm_rerun(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "genqa",
        "--set",
        "steps[0].params.num_questions=2",
        "--set",
        "steps[0].params.list_size=4",
    )
    assert len(records) == 2
    for record in records:
        assert (
            record["question"]
            and record["answer"]
            and record["genqa_variant"] == "generator_nested"
        )
        assert 1 <= record["genqa_index"] <= 4 and record["_meta"]["method"] == "genqa.generate"
