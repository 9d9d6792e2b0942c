"""Symbol tuning: the symbol pool, mappings, prompts and the recipe (no model)."""

from __future__ import annotations

import asyncio
import random

from conftest import run_cli

from synthaug.engine.step import StepContext
from synthaug.methods.labeling.symbol_tuning import Remap, draw_mapping, symbol_pool
from synthaug.records import META

CTX = StepContext(llm=None, run_seed=0, step_name="remap")


def rows_of(labels: list[str], task: str | None = None) -> list[dict]:
    return [
        {"text": f"text {i}", "label": label, "task": task, META: {"id": f"r{i}"}}
        for i, label in enumerate(labels)
    ]


def run(step: Remap, rows: list[dict]) -> list[dict]:
    async def go():
        async def source():
            for row in rows:
                yield row

        return [r async for r in step.transform(source(), CTX)]

    return asyncio.run(go())


def test_pool_has_integers_strings_and_words():
    pool = symbol_pool()
    assert len(pool) == len(set(pool)) == 22_851
    assert "0" in pool and "9999" in pool and "able" in pool
    assert symbol_pool() is pool


def test_mapping_is_distinct_seeded_and_avoids_label_names():
    labels = ["yes", "no", "able"]
    mapping = draw_mapping(labels, random.Random(1))
    assert list(mapping) == labels and len(set(mapping.values())) == 3
    assert not {s.lower() for s in mapping.values()} & set(labels)
    assert draw_mapping(labels, random.Random(1)) == mapping


def test_prompts_per_prompt_mapping():
    rows = rows_of(["pos", "neg"] * 4)
    out = run(Remap(exemplars_per_class=2), rows)
    assert len(out) == 8
    first = out[0]
    blocks = first["prompt"].split("\n\n")
    assert len(blocks) == 5 and blocks[-1] == "Input: text 0\nOutput:"
    assert "text 0" not in "\n\n".join(blocks[:-1])  # the query is not its own exemplar
    assert first["target_symbol"] == first["response"] == first["symbol_map"]["pos"]
    symbols = [b.split("Output: ")[1] for b in blocks[:-1]]
    assert sorted(symbols) == sorted(
        [first["symbol_map"]["pos"]] * 2 + [first["symbol_map"]["neg"]] * 2
    )
    assert "pos" not in first["prompt"] and first["source_task"] == "task"
    assert len({tuple(r["symbol_map"].values()) for r in out}) > 1  # re-drawn per prompt
    assert run(Remap(exemplars_per_class=2), rows) == out  # seeded


def test_per_task_mapping_and_errors():
    rows = [
        *rows_of(["pos", "neg", "pos", "neg"], task="t1"),
        {"text": "x", "label": "only", "task": "t2", META: {"id": "s1"}},
        {"text": "", "label": "pos", "task": "t1", META: {"id": "s2"}},
    ]
    out = run(Remap(task_column="task", remap="per_task", exemplars_per_class=1), rows)
    kinds = [r[META].get("error", {}).get("kind") for r in out]
    assert kinds.count("unlabelled") == 1 and kinds.count("single_label_task") == 1
    good = [r for r in out if "error" not in r[META]]
    assert len(good) == 4 and len({tuple(r["symbol_map"].items()) for r in good}) == 1


def test_symbol_tuning_recipe(tmp_path):
    result = run_cli("run", "symbol_tuning", "--out", "data.jsonl", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sft = run_cli("export", "data.jsonl", "--format", "sft", "-o", "sft.jsonl", cwd=tmp_path)
    assert sft.returncode == 0, sft.stderr
