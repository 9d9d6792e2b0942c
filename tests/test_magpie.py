"""Magpie: the pre-query template from the model's own chat template, tags, filter, end to end."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import run_recipe_twice, summary_of

from synthaug.curate.semantic import semdedup
from synthaug.engine.resources import RunResources
from synthaug.engine.step import RowError, StepContext
from synthaug.llm.client import LLMClient
from synthaug.methods.instruct.magpie import Select, parse_tags, passes_filter, pre_query_template
from synthaug.methods.registry import get_method
from synthaug.recipe import load_recipe


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


def test_input_order_keeps_the_earliest_of_a_group_at_the_papers_bound():
    # gen_dis.py: squared L2 < 0.05 between unit vectors, i.e. cosine > 0.975
    first = np.array([1.0, 0.0, 0.0])
    repeat = np.array([0.976, np.sqrt(1 - 0.976**2), 0.0])  # cosine 0.976 to the first
    close = np.array([0.974, 0.0, np.sqrt(1 - 0.974**2)])  # 0.974 to the first, 0.95 to repeat
    other = np.array([0.5, -np.sqrt(0.75), 0.0])  # pulls the centroid towards the first
    vectors = np.stack([first, repeat, close, other])
    assert np.sum((first - repeat) ** 2) < 0.05 <= np.sum((first - close) ** 2)
    removed = semdedup(vectors, epsilon=0.025, clusters=1, order="input")
    assert set(removed) == {1} and removed[1].partner == 0
    # SemDeDup's own order keeps the member farthest from the centroid: here the later one
    assert set(semdedup(vectors, epsilon=0.025, clusters=1)) == {0}


# Queries written for this test: two pairs the MiniLM puts above cosine 0.975 (0.993 and
# 0.992), and close ones below it (0.92, 0.94, 0.95) that are different requests.
QUERIES = [
    "What is the capital of France?",
    "Tell me the capital city of France.",
    "What's the capital of France?",
    "How do I bake bread at home?",
    "How can I bake bread at home?",
    "Write a poem about the sea.",
    "Write a poem about the ocean.",
    "Explain how photosynthesis works.",
    "Explain how photosynthesis works in plants.",
]


def test_magpie_recipe_removes_repeated_queries_with_the_papers_rule():
    recipe = load_recipe("magpie")
    methods = [step.method for step in recipe.steps]
    assert methods.index("dedup_semantic") == methods.index("magpie.queries") + 1
    config = recipe.steps[methods.index("dedup_semantic")]
    step = get_method(config.method).step(config.name, **config.params)
    assert step.params.columns == ["instruction"]
    ctx = StepContext(llm=None, run_seed=0, step_name="dedup", resources=RunResources())
    rows = [{"instruction": q} for q in QUERIES]
    kept = sorted(step.kept(rows, QUERIES, ctx))
    assert [QUERIES[i] for i in range(len(QUERIES)) if i not in kept] == [
        "What's the capital of France?",
        "How can I bake bread at home?",
    ]


def test_magpie_recipe_on_the_embedded_model_and_warm_rerun(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "magpie",
        "--set",
        "steps[0].params.num_queries=4",
        "--set",
        "steps[2].params.max_tokens=160",
        "--set",
        "steps[4].params.qualities=[very poor, poor, average, good, excellent]",
    )
    steps = summary_of(tmp_path / "data.jsonl")["steps"]
    assert steps[0]["rows_out"] == 4 and steps[1]["method"] == "dedup_semantic"
    assert steps[1]["rows_in"] == 4 and steps[2]["rows_in"] == steps[1]["rows_out"] >= 1
    for record in records:
        assert record["conversations"][0]["value"] == record["instruction"]
        assert record["pre_query_template"].endswith("<|im_start|>user\n")
        assert record["input_quality"] in ("very poor", "poor", "average", "good", "excellent")
        assert record["_meta"]["method"] == "magpie.tag"
    assert len({r["instruction"] for r in records}) == len(records)
