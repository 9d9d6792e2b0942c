"""``synthaug run --executor ray`` on a real two-node Ray cluster on 127.0.0.1.

The module starts a head (``ray start --head``) and a second node (``ray start --address``),
one CPU each, every server bound to 127.0.0.1 (``ray start`` turns a loopback
``--node-ip-address`` into the machine's outward address, so the nodes start through
``ray.scripts.scripts.main`` with that one rewrite turned off; the driver connects with
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which keeps it on loopback too). Every RPC needs
the token the module draws (Ray's token authentication). Each node runs in its own process
group, killed as a whole at the end (or to kill the node mid-run).

A small recipe on the embedded model (deterministic, one thread) runs as two shards on the
cluster and must write the very bytes of a local run; with the second node killed mid-run,
Ray retries its shard on the head and the bytes are still the same; with the driver killed,
the same command resumes without repeating the model calls already made. ``synthaug dedup
--executor ray`` must write the output and report of the single-process command (keep
first, by a score column, confirmed by the signatures), also with a third node killed
while it holds signed chunks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    RAY_DRIVER_ENV,
    SHARDABLE_RECIPE,
    cached_requests,
    ray_cluster,
    read_jsonl,
    run_cli,
    shardable_run,
    summary_of,
    write_jsonl,
)
from curation_corpus import near_dup_corpus

DRIVER_ENV = RAY_DRIVER_ENV


@pytest.fixture(scope="module")
def cluster():
    """``(address, second node)`` of a running two-node cluster; torn down however it ends."""
    yield from ray_cluster()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> bytes:
    """The bytes of the recipe's local run."""
    return shardable_run(
        tmp_path_factory.mktemp("ray-local"), "data.jsonl", "c.sqlite3"
    ).read_bytes()


def ray_args(address: str) -> list[str]:
    return ["run", "recipe.yaml", "--out", "data.jsonl", "--cache", "cache.sqlite3", "--quiet",
            "--executor", "ray", "--address", address, "--workers", "2"]  # fmt: skip


def start_ray_run(cwd: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "synthaug.cli", *ray_args(address)],
        cwd=cwd,
        env={**os.environ, **DRIVER_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_answers(cache: Path, count: int, driver: subprocess.Popen) -> int:
    deadline = time.monotonic() + 240
    while cached_requests(cache) < count:
        assert driver.poll() is None, driver.stderr.read() if driver.stderr else ""
        assert time.monotonic() < deadline, "no model answer arrived"
        time.sleep(0.2)
    return cached_requests(cache)


def test_driver_killed_then_rerun_resumes_with_the_local_bytes(cluster, local_run, tmp_path):
    address, _ = cluster
    (tmp_path / "recipe.yaml").write_text(SHARDABLE_RECIPE)
    cache = tmp_path / "cache.sqlite3"
    driver = start_ray_run(tmp_path, address)
    wait_for_answers(cache, 1, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert not (tmp_path / "data.jsonl").exists()
    time.sleep(3)  # Ray ends the dead driver's tasks
    paid = cached_requests(cache)
    again = run_cli(*ray_args(address), cwd=tmp_path, env=DRIVER_ENV)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "data.jsonl").read_bytes() == local_run
    assert summary_of(tmp_path / "data.jsonl")["llm"]["model_calls"] <= 6 - paid
    assert cached_requests(cache) == 6


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
    third = Node(tmp_path / "third.log", "--address", address)
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


def test_a_budget_is_shared_by_the_shards_and_a_spent_one_exits_3(cluster, local_run, tmp_path):
    address, _ = cluster
    (tmp_path / "recipe.yaml").write_text(SHARDABLE_RECIPE)
    spent = run_cli(*ray_args(address), "--max-tokens", "2", cwd=tmp_path, env=DRIVER_ENV)
    assert spent.returncode == 3, spent.stderr
    assert "shard 0/2: " in spent.stderr and "limit 1" in spent.stderr  # 2 tokens: 1 each
    assert not (tmp_path / "data.jsonl").exists()
    resumed = run_cli(*ray_args(address), cwd=tmp_path, env=DRIVER_ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "data.jsonl").read_bytes() == local_run


def test_second_node_killed_mid_run_gives_the_local_bytes(cluster, local_run, tmp_path):
    address, second = cluster
    (tmp_path / "recipe.yaml").write_text(SHARDABLE_RECIPE)
    driver = start_ray_run(tmp_path, address)
    wait_for_answers(tmp_path / "cache.sqlite3", 1, driver)
    second.kill()
    _, errors = driver.communicate(timeout=400)
    assert driver.returncode == 0, errors
    out = tmp_path / "data.jsonl"
    assert out.read_bytes() == local_run
    records = read_jsonl(out)
    assert len({r["_meta"]["id"] for r in records}) == len(records) == 6
