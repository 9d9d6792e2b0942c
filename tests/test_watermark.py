"""Kirchenbauer et al. (2023) watermark: the green-list logits processor on the embedded
SmolLM2 (transformers reads the GGUF), the z-score detector, and ``watermark.detect`` as a
curation filter in a recipe."""

from __future__ import annotations

import math

import pytest
import yaml
from conftest import read_jsonl, run_recipe_twice, write_jsonl

from synthaug.curate.watermark import detect, load_tokenizer
from synthaug.llm.local import default_model_path
from synthaug.llm.watermark import GAMMA, green_list, score_tokens, z_score

PROMPT = "Write a short story about a cat who finds a key."
NEW_TOKENS = 64


@pytest.fixture(scope="module")
def generations() -> dict[str, list[int]]:
    """The embedded model's greedy continuation of PROMPT with and without the watermark."""
    from transformers import AutoModelForCausalLM, LogitsProcessorList

    from synthaug.llm.watermark_processor import WatermarkLogitsProcessor

    path = default_model_path()
    tokenizer = load_tokenizer()
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    messages = [{"role": "user", "content": PROMPT}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    start = inputs["input_ids"].shape[1]
    out = {}
    for name, processors in (
        ("plain", []),
        ("watermarked", [WatermarkLogitsProcessor(len(tokenizer))]),
    ):
        ids = model.generate(
            **inputs,
            max_new_tokens=NEW_TOKENS,
            min_new_tokens=NEW_TOKENS,
            do_sample=False,
            logits_processor=LogitsProcessorList(processors),
        )
        out[name] = ids[0, start:].tolist()
    return out


def test_green_list_is_the_papers():
    green = green_list(42, 1000)
    assert len(green) == int(1000 * GAMMA) and len(set(green.tolist())) == len(green)
    assert green.tolist() == green_list(42, 1000).tolist()  # seeded by the previous token
    assert green.tolist() != green_list(43, 1000).tolist()
    assert z_score(25, 100) == 0 and z_score(100, 100) == pytest.approx(75 / math.sqrt(18.75))


def test_watermarked_text_scores_high_and_plain_text_low(generations):
    vocab = len(load_tokenizer())
    marked, plain = (score_tokens(generations[k], vocab) for k in ("watermarked", "plain"))
    assert marked["tokens_scored"] == NEW_TOKENS - 1
    assert marked["z_score"] > 4 > plain["z_score"]
    assert marked["green_fraction"] > GAMMA
    tokenizer = load_tokenizer()
    text = tokenizer.decode(generations["watermarked"], skip_special_tokens=True)
    assert detect(text, tokenizer)["watermarked"]  # re-tokenized text still detected


def test_detect_step_filters_watermarked_rows(tmp_path, generations):
    tokenizer = load_tokenizer()
    rows = [
        {"text": tokenizer.decode(generations[k], skip_special_tokens=True), "kind": k}
        for k in ("watermarked", "plain")
    ]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    recipe = {
        "name": "watermark_test",
        "backend": {"type": "local"},
        "steps": [
            {"method": "load", "params": {"path": str(data)}},
            {"method": "watermark.detect", "params": {"columns": ["text"], "action": "drop"}},
        ],
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    [kept] = run_recipe_twice(tmp_path, "recipe.yaml")
    assert kept["kind"] == "plain"
    found = kept["_meta"]["watermark"]
    assert found["watermarked"] is False and found["z_score"] < 4
    assert read_jsonl(tmp_path / "data.jsonl") == [kept]
