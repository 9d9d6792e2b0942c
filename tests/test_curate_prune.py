"""Cluster-based pruning (Tsai et al. 2024)."""

from __future__ import annotations

import math

import numpy as np
from conftest import read_jsonl, run_cli, write_jsonl
from curation_corpus import seed_texts

from synthaug.curate.cluster import assign, kmeans
from synthaug.curate.diversity import embed
from synthaug.curate.prune import pca, prune


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_diversity_keeps_spread_out_members_and_density_keeps_sparse_ones():
    # one tight group of five near (1, 0) and two outliers
    vectors = _unit([[1, 0.01], [1, 0.02], [1, 0.0], [1, -0.01], [1, 0.015], [0.2, 1], [-0.3, 1]])
    diverse = prune(vectors, fraction=3 / 7, metric="diversity", clusters=1)
    assert len(diverse) == 3 and {5, 6} <= set(diverse)
    sparse = prune(vectors, fraction=2 / 7, metric="density", clusters=1)
    assert sparse == [5, 6]


def test_each_cluster_keeps_its_share():
    vectors = embed(seed_texts())
    kept = prune(vectors, fraction=0.1, clusters=8)
    labels = assign(vectors, kmeans(vectors, 8, 0))
    expected = sum(math.ceil(0.1 * np.sum(labels == c)) for c in np.unique(labels))
    assert len(kept) == expected and len(set(kept)) == len(kept)


def test_pca_keeps_unit_length_and_dimension():
    reduced = pca(embed(seed_texts()[:50]), 8)
    assert reduced.shape == (50, 8) and np.allclose(np.linalg.norm(reduced, axis=1), 1)


def test_prune_command_with_minilm(tmp_path):
    rows = [{"t": t} for t in seed_texts()[:60]]
    write_jsonl(tmp_path / "in.jsonl", rows)
    result = run_cli(
        "prune",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--columns",
        "t",
        "--fraction",
        "0.25",
        "--cache",
        "cache.sqlite3",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    kept = read_jsonl(tmp_path / "out.jsonl")
    report = read_jsonl(tmp_path / "out.report.jsonl")
    assert 15 <= len(kept) <= 15 + 8 and len(report) == 60
    assert {r["reason"] for r in report if not r["kept"]} == {"pruned_diversity"}
