"""Magpie: the pre-query template from the model's own chat template, tags, filter, end to end."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from conftest import run_recipe_twice, summary_of

from synthaug.engine.step import RowError
from synthaug.llm.client import LLMClient
from synthaug.methods.instruct.magpie import Select, parse_tags, passes_filter, pre_query_template


def test_pre_query_template_comes_from_the_gguf_chat_template(local_backend):
    template, stops = asyncio.run(pre_query_template(LLMClient(local_backend, None)))
    # SmolLM2's template: a default system turn, then the user header
    assert template.endswith("<|im_start|>user\n") and template.startswith("<|im_start|>system")
    assert stops[0] == "<|im_end|>" and "assistant" in stops
    with_system, _ = asyncio.run(
        pre_query_template(LLMClient(local_backend, None), "You are a math tutor.")
    )
    assert "You are a math tutor." in with_system and with_system.endswith("<|im_start|>user\n")


def test_tag_parsing_on_recorded_replies():
    # recorded: a complete tag object, and one the 135M model cut off in a degenerate explanation
    good = '{"explanation": "The query is clear.", "input_quality": "good"}'
    assert parse_tags(SimpleNamespace(text=good))["input_quality"] == "good"
    with pytest.raises(RowError):
        parse_tags(SimpleNamespace(text='{\n  "explanation": "1.3.1.1.1.1.1.1'))


def test_filter_and_select():
    rows = [
        {"instruction": "Plan a trip to Rome.", "response": "Day 1 ...", "input_quality": "good"},
        {
            "instruction": "Translate the following:",
            "response": "x" * 50,
            "input_quality": "excellent",
        },
        {"instruction": "hm", "response": "y" * 80, "input_quality": "poor"},
        {"instruction": "Explain tides.", "response": "z" * 40, "input_quality": "excellent"},
    ]
    assert [passes_filter(r, ["good", "excellent"]) for r in rows] == [True, False, False, True]
    assert list(Select(top_k=1).kept(rows, [], None)) == [3]
    assert sorted(Select().kept(rows, [], None)) == [0, 3]


def test_magpie_recipe_on_the_embedded_model_and_warm_rerun(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "magpie",
        "--set",
        "steps[0].params.num_queries=4",
        "--set",
        "steps[3].params.qualities=[very poor, poor, average, good, excellent]",
    )
    assert summary_of(tmp_path / "data.jsonl")["steps"][0]["rows_out"] == 4
    for record in records:
        assert record["conversations"][0]["value"] == record["instruction"]
        assert record["pre_query_template"].endswith("<|im_start|>user\n")
        assert record["input_quality"] in ("very poor", "poor", "average", "good", "excellent")
        assert record["_meta"]["method"] == "magpie.tag"
    assert len({r["instruction"] for r in records}) == len(records)
