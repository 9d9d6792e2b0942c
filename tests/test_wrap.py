"""WRAP: chunking, rephrase clean-up and the real:synthetic mix; a run on the embedded model."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_cli, run_recipe_twice
from pydantic import ValidationError

from synthaug.engine.step import StepContext
from synthaug.methods.pretrain import wrap
from synthaug.methods.pretrain.wrap import (
    STYLES,
    Chunk,
    Mix,
    RephraseParams,
    approx_tokens,
    chunk_text,
    clean_rephrase,
)
from synthaug.methods.templates import render

# recorded from SmolLM2-135M (easy and qa styles) on the first Self-Instruct seed output
EASY_REPLY = "I made this recipe for you, and it's a yummy recipe, but it has a lot of ingredients that can be too big for a small child to eat. You need to make a little bit of magic with a whole lot of words. That's what I do. Here's the recipe, with the ingredients I made it for you: \n\nHere's the recipe: oatmeal banana protein shake"
QA_REPLY = "Question: What is the answer to the question: Does the 4 strips of bacon contain a serving of bacon and a serving of 200 calories?"

DOCUMENT = (
    "The committee met on Monday. It approved the budget for 2024 after a long debate. "
    + "Several members asked for more money for schools and parks in the northern districts. " * 30
    + "The meeting ended at nine."
)


def test_chunks_fit_the_budget_and_keep_every_word():
    chunks = chunk_text(DOCUMENT, 300)
    assert len(chunks) > 1
    assert all(approx_tokens(chunk) <= 300 for chunk in chunks)
    assert " ".join(chunks).split() == DOCUMENT.split()
    assert chunks[0].startswith("The committee met on Monday.")  # sentences are not cut
    assert all(chunk.endswith(".") for chunk in chunks)
    assert chunk_text("word " * 50, 8) and all(
        approx_tokens(c) <= 8 for c in chunk_text("word " * 50, 8)
    )
    assert approx_tokens("abcd" * 75) == 75


def test_paper_defaults_and_style_prompts():
    assert STYLES == ("easy", "medium", "hard", "qa")
    assert RephraseParams().styles == list(STYLES)
    assert Chunk().params.max_tokens == 300 and Mix().params.real_per_synthetic == 1.0
    for style in STYLES:
        prompt = render(wrap.__file__, f"wrap_{style}.j2", passage="PASSAGE TEXT")
        assert prompt.endswith("PASSAGE TEXT")
    assert "Wikipedia" in render(wrap.__file__, "wrap_medium.j2", passage="x")
    with pytest.raises(ValidationError):
        RephraseParams(styles=["shouty"])


def test_clean_rephrase_on_recorded_replies():
    assert clean_rephrase("Here is the passage in simple words:\nThe cat sat.") == "The cat sat."
    assert clean_rephrase("Note: the cat sat on the mat.") == "Note: the cat sat on the mat."
    assert clean_rephrase(QA_REPLY) == QA_REPLY  # one "Question:" line: nothing to drop
    # its first line ends with a colon but is a long sentence, not an announcement: kept whole
    assert clean_rephrase(EASY_REPLY) == EASY_REPLY.strip()
    announced = "Here is the passage for a small child:\n" + EASY_REPLY
    assert clean_rephrase(announced) == EASY_REPLY.strip()


def _synthetic(chunk_id: str, style: str, chunk: str) -> dict:
    return {
        "original_chunk": chunk,
        "wrap_document": "doc",
        "wrap_chunk": 0,
        "style": style,
        "rephrased_text": f"{style} version",
        "text": f"{style} version",
        "wrap_source": "synthetic",
        "_meta": {"id": f"{chunk_id}-{style}", "parents": [chunk_id]},
    }


def _mix(rows: list[dict], ratio: float) -> list[dict]:
    async def collect() -> list[dict]:
        async def source():
            for row in rows:
                yield row

        step = Mix(real_per_synthetic=ratio)
        ctx = StepContext(llm=None, run_seed=0, step_name="mix")
        return [row async for row in step.transform(source(), ctx)]

    return asyncio.run(collect())


def test_mix_keeps_the_ratio_and_tags_sources():
    rows = [_synthetic(c, s, f"chunk {c}") for c in ("a", "b") for s in ("easy", "qa")]
    mixed = _mix(rows, 1.0)
    real = [r for r in mixed if r["wrap_source"] == "real"]
    assert len(real) == 4 and len(mixed) == 8
    assert {r["text"] for r in real} == {"chunk a", "chunk b"}
    assert all(r["_meta"]["parents"][0] in ("a", "b") for r in real)
    assert len({r["_meta"]["id"] for r in mixed}) == 8
    assert [r["wrap_source"] for r in _mix(rows, 0.5)].count("real") == 2
    assert [r["wrap_source"] for r in _mix(rows, 0.0)] == ["synthetic"] * 4
    assert _mix(rows, 1.0) == mixed  # seeded


def test_wrap_recipe_on_the_embedded_model(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "wrap",
        "--limit",
        "1",
        "--set",
        "steps[2].params.styles=[easy, qa]",
        "--set",
        "steps[2].params.max_tokens=48",
    )
    synthetic = [r for r in records if r["wrap_source"] == "synthetic"]
    real = [r for r in records if r["wrap_source"] == "real"]
    assert len(synthetic) == len(real) == 2
    assert {r["style"] for r in synthetic} == {"easy", "qa"}
    chunk = synthetic[0]["original_chunk"]
    assert chunk.startswith("Yes, you can have 1 oatmeal banana protein shake")
    for record in synthetic:
        assert record["rephrased_text"] == record["text"] and record["original_chunk"] == chunk
        meta = record["_meta"]
        assert meta["method"] == "wrap.rephrase" and meta["parents"] and len(meta["request"]) == 1
        assert meta["model"].startswith("local:")
    assert all(r["text"] == chunk and r["_meta"]["method"] == "wrap.mix" for r in real)
    bad = run_cli("run", "wrap", "--set", "steps[2].params.styles=[shouty]", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[2].params" in bad.stderr
