"""Diversity and coverage metrics: known values on small inputs, ordering on real text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from curation_corpus import mt_bench_texts, seed_texts

from synthaug.curate.diversity import (
    cluster_coverage,
    distinct_n,
    embed,
    mean_pairwise_distance,
    report,
    self_bleu,
    vendi_score,
)


def test_distinct_n_counts_unique_ngrams():
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n([], 2) == 0.0


def test_vendi_score_is_the_effective_number_of_distinct_items():
    one_hot = np.eye(4)
    assert vendi_score(one_hot) == pytest.approx(4.0)
    assert vendi_score(np.repeat(one_hot[:1], 5, axis=0)) == pytest.approx(1.0)
    assert vendi_score(np.vstack([one_hot[:2]] * 3)) == pytest.approx(2.0)


def test_mean_pairwise_distance_matches_brute_force():
    vectors = embed(seed_texts()[:30])
    brute = np.mean([1 - vectors[i] @ vectors[j] for i in range(30) for j in range(30) if i != j])
    assert mean_pairwise_distance(vectors) == pytest.approx(brute)


def test_self_bleu_is_one_for_copies_and_low_for_real_distinct_tasks():
    copies = ["the quick brown fox jumps over the lazy dog"] * 5
    assert self_bleu(copies) == pytest.approx(1.0)
    assert self_bleu(seed_texts()[:100]) < 0.3


def test_metrics_rank_a_repetitive_set_below_a_diverse_one():
    diverse = seed_texts()
    repetitive = [diverse[i % 10] for i in range(len(diverse))]
    a, b = report(diverse), report(repetitive)
    assert a["distinct_2"] > b["distinct_2"]
    assert a["self_bleu_4"] < b["self_bleu_4"]
    assert a["vendi_score"] > 5 * b["vendi_score"]
    assert a["embedding_mean_pairwise_distance"] > b["embedding_mean_pairwise_distance"]


def test_coverage_of_a_reference():
    references = embed(seed_texts() + mt_bench_texts())
    assert cluster_coverage(references, references, 10) == 1.0
    assert cluster_coverage(embed(mt_bench_texts()[:3]), references, 10) < 0.5


def test_stats_command_prints_and_writes_json(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"q": t}) + "\n" for t in mt_bench_texts()))
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in seed_texts()))
    result = run_cli(
        "stats",
        "data.jsonl",
        "--columns",
        "q",
        "--reference",
        "seeds.jsonl",
        "--reference-columns",
        "instruction",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "data.stats.json").read_text())
    assert metrics["texts"] == 80 and 0 < metrics["rouge_l_to_reference_mean"] < 0.5
    assert "vendi_score" in result.stdout
    missing = run_cli("stats", "data.jsonl", "--columns", "text", cwd=tmp_path)
    assert missing.returncode == 2 and "field 'text'" in missing.stderr


def test_stats_with_minilm_embeddings(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"q": t}) + "\n" for t in mt_bench_texts()[:40]))
    result = run_cli(
        "stats",
        "data.jsonl",
        "--columns",
        "q",
        "--embedder",
        "minilm",
        "--cache",
        "cache.sqlite3",
        "--out",
        "m.json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["embedding"].startswith("minilm:")
    assert 0.5 < metrics["embedding_mean_pairwise_distance"] < 1.0 and metrics["vendi_score"] > 5
