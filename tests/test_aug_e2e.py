"""The LLM reformation recipes end to end on the embedded SmolLM2-135M, a few rows each,
rerun from the cache with no model call."""

from __future__ import annotations

from conftest import read_jsonl, run_recipe_twice

from synthaug.records import META


def errors_of(cwd) -> list[dict]:
    path = cwd / "data.errors.jsonl"
    return read_jsonl(path) if path.exists() else []


def test_chataug_recipe(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "chataug",
        "--limit", "3",
        "--set", "steps[1].params.k=2",
        "--set", "steps[1].params.max_tokens=24",
    )  # fmt: skip
    made = records + errors_of(tmp_path)
    assert len(made) == 6
    for r in made:
        assert r["similarity_metric"] == "rouge_l" and 0 <= r["similarity"] <= 1
        assert r["original_text"] and r["label"] in ("sarcastic", "not_sarcastic")
    assert all(r["kept"] and 0.3 <= r["similarity"] <= 0.9 for r in records)
    assert all(
        not r["kept"] and r[META]["error"]["kind"] == r["rejected_because"]
        for r in errors_of(tmp_path)
    )


def test_back_translation_recipe(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "back_translation",
        "--limit", "2",
        "--set", "steps[1].params.max_tokens=24",
        "--set", "steps[1].params.keep_rejected=true",
    )  # fmt: skip
    assert len(records) == 2
    for r in records:
        assert r["pivot_language"] == "French" and r["pivot_text"]
        assert r["kept"] == (r["rejected_because"] is None)
        assert len(r[META]["request"]) == 2  # there and back


def test_disco_recipe(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "disco",
        "--limit", "2",
        "--set", "steps[1].params.spans=1",
        "--set", "steps[1].params.generations=2",
        "--set", "steps[1].params.max_tokens=16",
        "--set", "steps[1].params.keep_rejected=true",
    )  # fmt: skip
    assert len(records) == 4  # 2 rows x 1 span x 1 target x 2 fills
    for r in records:
        assert r["target_label"] != r["original_label"] and r["label"] == r["target_label"]
        assert "[blank]" in r["masked_text"] and r["span"] in r["original_text"]
        assert r["teacher_original_label"] in ("sarcastic", "not_sarcastic", None)
        if r["kept"]:
            assert r["teacher_label"] == r["target_label"]


def test_core_recipe(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "core",
        "--limit", "4",
        "--set", "steps[2].params.max_tokens=24",
        "--set", "steps[2].params.keep_rejected=true",
    )  # fmt: skip
    assert len(records) == 4
    ids = {r["original_text"]: r[META]["parents"][0] for r in records}
    for r in records:
        assert r["label"] == r["target_label"] != r["original_label"]
        assert all(x["label"] == r["target_label"] and x["score"] > 0 for x in r["retrieved"])
        assert ids[r["original_text"]] not in {x["id"] for x in r["retrieved"]}


def test_gpt3mix_recipe(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "gpt3mix",
        "--limit", "3",
        "--set", "steps[2].params.max_tokens=24",
        "--set", "steps[2].params.keep_rejected=true",
    )  # fmt: skip
    assert len(records) == 3
    for r in records:
        assert len(r["examples"]) == 2
        if r["soft_label"]:
            assert r["soft_label_source"] == "logprobs"  # the local backend has them
            assert abs(sum(r["soft_label"].values()) - 1) < 1e-3
            assert r["label"] == max(r["soft_label"], key=r["soft_label"].get)


def test_variants_recipe(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "variants",
        "--limit", "2",
        "--set", "steps[1].params.n=2",
        "--set", "steps[1].params.max_tokens=96",
        "--set", "steps[1].params.keep_rejected=true",
    )  # fmt: skip
    parsed = [r for r in records if "variant_of" in r]
    assert len(parsed) + len(errors_of(tmp_path)) >= 2
    for r in parsed:
        assert set(r["variant_of"]) == {"text"} and r["variant_index"] in (0, 1)
        assert r["label"] in ("sarcastic", "not_sarcastic")
