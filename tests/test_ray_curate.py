"""``synthaug decontaminate|filter --executor ray`` on a real two-node Ray cluster on 127.0.0.1
(head plus second node, one CPU each, token authentication: ``conftest.ray_cluster``).

Each command's shards run as Ray tasks and the driver merges them: the output and report are
the bytes of a local run. A driver killed after one shard finished leaves that shard for the
rerun to reuse; with the second node killed while its shard runs, Ray runs that shard again on
the head and the bytes are still the local run's. The slow input makes its odd rows four
times as long as its even ones, so shard 1 of 2 runs well after shard 0 has finished.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RAY_DRIVER_ENV, ray_cluster, run_cli
from curation_corpus import mt_bench_texts, seed_texts

COMMANDS = {  # command -> its options past input, -o and --columns
    "decontaminate": ["--benchmark", "mt_bench", "--mode", "overlap"],
    "filter": ["--rules", "language,gopher_repetition,gopher_quality,length", "--min-words", "8"],
}
TIMINGS = ("wall_s", "mb_per_s", "outputs")
SHARD = "out.shard-{:05d}-of-00002"
TEMP = re.compile(r"\.out\.shard-(\d{5})-of-00002\..*\.tmp-(\d+)")  # a shard's file being written


@pytest.fixture(scope="module")
def cluster():
    yield from ray_cluster()


@pytest.fixture(scope="module")
def slow_input(tmp_path_factory) -> tuple[Path, tuple[bytes, bytes]]:
    """A 5,000-row input whose odd rows are long, and its local filter run's output and report."""
    folder = tmp_path_factory.mktemp("slow")
    texts = seed_texts()
    rows = [
        {"text": " ".join(texts[(n + k) % len(texts)] for k in range(1 + 3 * (n % 2))), "n": n}
        for n in range(5000)
    ]
    path = folder / "in.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = curate("filter", folder, "local.jsonl")
    assert done.returncode == 0, done.stderr
    return path, outputs(folder / "local.jsonl")


def curate(command: str, cwd: Path, out: str, *extra: str) -> subprocess.CompletedProcess:
    return run_cli(command, "in.jsonl", "-o", out, "--columns", "text", *COMMANDS[command],
                   "--quiet", *extra, cwd=cwd, env=RAY_DRIVER_ENV)  # fmt: skip


def on_ray(address: str) -> list[str]:
    return ["--executor", "ray", "--address", address, "--workers", "2"]


def filter_on_ray(address: str) -> list[str]:
    """The filter of the slow input into out.jsonl on the cluster."""
    return ["filter", "in.jsonl", "-o", "out.jsonl", "--columns", "text", *COMMANDS["filter"],
            *on_ray(address)]  # fmt: skip


def start_driver(cwd: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "synthaug.cli", *filter_on_ray(address), "--quiet"],
        cwd=cwd,
        env={**os.environ, **RAY_DRIVER_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def outputs(out: Path) -> tuple[bytes, bytes]:
    return out.read_bytes(), out.with_suffix(".report.jsonl").read_bytes()


def summary(out: Path) -> dict:
    data = json.loads(out.with_suffix(".summary.json").read_text())
    return {k: v for k, v in data.items() if k not in TIMINGS}


def wait_for(condition, driver: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert driver.poll() is None, f"the driver ended before {what}: {driver.stderr.read()}"
        assert time.monotonic() < deadline, f"no {what} in 120 s"
        time.sleep(0.05)


def shard_done(cwd: Path, index: int) -> bool:
    return (cwd / f"{SHARD.format(index)}.summary.json").exists()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_on_the_cluster_equals_a_local_run(cluster, command, tmp_path):
    address, _ = cluster
    texts = seed_texts()[:40]
    texts[3] = "Tell me: " + mt_bench_texts()[3]  # contaminated
    texts[10] = "Too short to keep."
    texts[21] = "Answer this: " + mt_bench_texts()[7]
    rows = [{"text": t, "n": n} for n, t in enumerate(texts)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    suffix = ".parquet" if command == "filter" else ".jsonl"  # shards write JSONL either way
    assert curate(command, tmp_path, "local" + suffix).returncode == 0
    done = curate(command, tmp_path, "out" + suffix, *on_ray(address))
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path / f"out{suffix}") == outputs(tmp_path / f"local{suffix}")
    merged, alone = summary(tmp_path / f"out{suffix}"), summary(tmp_path / f"local{suffix}")
    assert merged.pop("settings").pop("shards") == 2
    alone.pop("settings")
    assert merged == alone and alone["dropped"] and alone["rows_out"], "needs drops and keeps"


def test_driver_killed_then_rerun_reuses_the_complete_shard(cluster, slow_input, tmp_path):
    address, _ = cluster
    (tmp_path / "in.jsonl").symlink_to(slow_input[0])
    driver = start_driver(tmp_path, address)
    wait_for(lambda: shard_done(tmp_path, 0), driver, "shard 0 complete")
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert not shard_done(tmp_path, 1), "shard 1 must still have been running"
    assert not (tmp_path / "out.jsonl").exists()
    kept = {p: p.stat().st_mtime_ns for p in tmp_path.glob(SHARD.format(0) + ".*")}
    assert len(kept) == 3  # its rows, report and summary
    again = run_cli(*filter_on_ray(address), cwd=tmp_path, env=RAY_DRIVER_ENV)
    assert again.returncode == 0, again.stderr
    assert "1 of 2 shards complete; reusing them" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in kept} == kept, "the complete shard was redone"
    assert outputs(tmp_path / "out.jsonl") == slow_input[1]


def test_bad_options_are_one_line(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "a row"}\n')
    for extra, message in (
        (["--shard", "0/2"], "drop --shard/--merge"),
        (["--merge"], "drop --shard/--merge"),
        (["--workers", "0"], "--workers: must be at least 1"),
    ):
        done = curate("filter", tmp_path, "out.jsonl", "--executor", "ray", *extra)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_shards_of_a_changed_input_are_not_merged(tmp_path):
    """A shard's ``made_by`` covers the input's size and time: the merge refuses (and a rerun
    on Ray, comparing the same hash, redoes) the shards of an input edited since."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "one row of text that is long enough to keep here"}\n')
    assert curate("filter", tmp_path, "out.jsonl", "--shard", "0/1").returncode == 0
    path.write_text(path.read_text() + '{"text": "and a second row added after the shard ran"}\n')
    done = curate("filter", tmp_path, "out.jsonl", "--merge")
    assert done.returncode == 2 and "made by other options" in done.stderr, done.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_second_node_killed_mid_run_gives_the_local_bytes(cluster, slow_input, tmp_path):
    """Last in the module: the cluster is left with its head alone."""
    address, second = cluster
    (tmp_path / "in.jsonl").symlink_to(slow_input[0])
    driver = start_driver(tmp_path, address)

    def on_second_node() -> bool:  # a shard writing its temp files from the second node
        for temp in tmp_path.glob(".out.shard-*.tmp-*"):
            index, pid = TEMP.fullmatch(temp.name).groups()
            if second.owns(int(pid)) and not shard_done(tmp_path, int(index)):
                return True
        return False

    wait_for(on_second_node, driver, "a shard running on the second node")
    second.kill()
    _, errors = driver.communicate(timeout=300)
    assert driver.returncode == 0, errors
    assert outputs(tmp_path / "out.jsonl") == slow_input[1]
