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
the same command resumes without repeating the model calls already made.
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
)

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
