"""``synthaug dedup --mode near --executor ray`` on a real two-node Ray cluster on 127.0.0.1
(``conftest.ray_cluster``: one CPU per node, token authentication).

The output and report must be the single-process command's, byte for byte: keeping the
first row, by a score column (ties), confirmed by the signatures, on a corpus with identical
copies, near copies and large LSH buckets, in several chunks (so pairs cross chunks). A third
node joins and is killed once signing is done, while it holds signed chunks: Ray rebuilds
them from their lineage and the bytes are still the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RAY_DRIVER_ENV, RayNode, ray_cluster, read_jsonl, run_cli, write_jsonl
from curation_corpus import near_dup_corpus

DRIVER_ENV = RAY_DRIVER_ENV


@pytest.fixture(scope="module")
def cluster():
    """``(address, second node)`` of a running two-node cluster; torn down however it ends."""
    yield from ray_cluster()


def dedup_corpus(copies: int) -> list[dict]:
    """The near-dup corpus, twice, then ``copies`` times again with a number appended (large
    LSH buckets), with a score of few values (ties) and a few empty texts."""
    texts = near_dup_corpus()
    texts = texts * 2 + [f"{t} {i}" for i in range(copies) for t in texts[:40]] + ["", "a b"]
    return [{"text": t, "score": (i * 7) % 3 / 2} for i, t in enumerate(texts)]


def dedup_both_ways(cwd: Path, address: str, *extra: str) -> dict[str, tuple[bytes, bytes]]:
    """Output and report bytes of ``synthaug dedup`` in this process and on the cluster."""
    outputs = {}
    for name, where in (("local", []), ("ray", ["--executor", "ray", "--address", address])):
        out = cwd / f"{name}.jsonl"
        done = run_cli(
            "dedup", "in.jsonl", "-o", str(out), "--columns", "text", "--quiet", *extra, *where,
            cwd=cwd, env=DRIVER_ENV,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs[name] = (out.read_bytes(), out.with_suffix(".report.jsonl").read_bytes())
    return outputs


@pytest.mark.parametrize(
    "keep", [[], ["--keep", "score", "--score-column", "score"], ["--confirm", "signature"]]
)
def test_near_dedup_on_the_cluster_writes_the_local_bytes(cluster, tmp_path, keep):
    address, _ = cluster
    rows = dedup_corpus(6)
    write_jsonl(tmp_path / "in.jsonl", rows)
    outputs = dedup_both_ways(tmp_path, address, *keep)
    kept = read_jsonl(tmp_path / "ray.jsonl")
    assert len(near_dup_corpus()) // 2 < len(kept) <= len(near_dup_corpus()) + 2
    assert outputs["ray"] == outputs["local"]
    report = read_jsonl(tmp_path / "ray.report.jsonl")
    assert {r["reason"] for r in report if not r["kept"]} == {"near_duplicate"}


def test_a_node_killed_mid_dedup_still_gives_the_local_bytes(cluster, tmp_path):
    """A third node joins, takes tasks, and is killed once signing is done: its results
    are rebuilt from their lineage elsewhere (after Ray's health check, ~15 s, finds the
    node dead)."""
    address, _ = cluster
    write_jsonl(tmp_path / "in.jsonl", dedup_corpus(40))
    third = RayNode(tmp_path / "third.log", "--address", address)
    try:
        third.wait_started()
        driver = subprocess.Popen(
            [sys.executable, "-m", "synthaug.cli", "dedup", "in.jsonl", "-o", "ray.jsonl",
             "--columns", "text", "--executor", "ray", "--address", address, "--workers", "3"],
            cwd=tmp_path, env={**os.environ, **DRIVER_ENV}, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert driver.stderr is not None
        seen = ""
        while "dedup on Ray: identical signatures" not in seen:
            line = driver.stderr.readline()
            assert line, seen[-2000:]
            seen += line
        assert driver.poll() is None  # killed mid-dedup, not after
        third.kill()
        _, errors = driver.communicate(timeout=300)
        assert driver.returncode == 0, errors
    finally:
        third.kill()
    local = run_cli(
        "dedup", "in.jsonl", "-o", "local.jsonl", "--columns", "text", "--quiet", cwd=tmp_path
    )
    assert local.returncode == 0, local.stderr
    for suffix in (".jsonl", ".report.jsonl"):
        ray_bytes = (tmp_path / f"ray{suffix}").read_bytes()
        assert ray_bytes == (tmp_path / f"local{suffix}").read_bytes()
