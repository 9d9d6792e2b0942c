"""``synthaug run --shard i/N`` and ``--merge`` (job arrays): the merged output is the unsharded one.

A small recipe on the real embedded model (deterministic, one thread): a seeded source, a
model-calling map step and a whole-input step (exact dedup, run at the merge). Each shard
uses its own request cache (as workers without a shared path do), so the byte-for-byte
comparison also shows that sharding does not change a request; one shard is killed mid-run
and resumed without repeating a call; ``synthaug cache merge`` joins the shards' caches.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import (
    cached_requests,
    kill_mid_run,
    read_jsonl,
    run_cli,
    shardable_run,
    summary_of,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The recipe and an unsharded run of it (``full/data.jsonl``, its own cache)."""
    cwd = tmp_path_factory.mktemp("shard")
    shardable_run(cwd, "full/data.jsonl", "full.sqlite3")
    return cwd


def shard_args(*extra: str) -> list[str]:
    return ["run", "recipe.yaml", "--out", "sharded/data.jsonl", "--quiet", *extra]


@pytest.fixture(scope="module")
def shards(workdir) -> tuple[list[Path], int]:
    """Both shards of the recipe, each on its own cache (as workers without a shared path
    keep them), shard 0 killed after its first answer and run again: their caches and how
    many answers shard 0 had paid for before the kill."""
    caches = [workdir / f"shard{index}.sqlite3" for index in (0, 1)]
    paid = kill_mid_run(shard_args("--shard", "0/2"), workdir, caches[0], after_calls=1)
    part = workdir / "sharded" / ".data.run" / "shards" / "00000-of-00002"
    assert not (part / "part.summary.json").exists(), "a killed shard must not look complete"
    early = run_cli(*shard_args("--merge", "--cache", str(caches[1])), cwd=workdir)
    assert early.returncode == 2 and "0/2, 1/2 not complete" in early.stderr
    assert not (workdir / "sharded" / "data.jsonl").exists()
    for index, cache in enumerate(caches):
        done = run_cli(*shard_args("--shard", f"{index}/2", "--cache", str(cache)), cwd=workdir)
        assert done.returncode == 0, done.stderr
    return caches, paid


def test_killed_shard_resumes_and_the_merge_equals_the_unsharded_run(workdir, shards):
    caches, paid = shards
    part = workdir / "sharded" / ".data.run" / "shards" / "00000-of-00002"
    resumed = json.loads((part / "part.summary.json").read_text())
    assert resumed["records"] == 3
    assert resumed["llm"]["model_calls"] == 3 - paid, "the killed shard's calls were repeated"
    assert [cached_requests(cache) for cache in caches] == [3, 3]
    merged = run_cli(*shard_args("--merge", "--cache", str(caches[1])), cwd=workdir)
    assert merged.returncode == 0, merged.stderr
    out = workdir / "sharded" / "data.jsonl"
    assert out.read_bytes() == (workdir / "full" / "data.jsonl").read_bytes()
    summary = summary_of(out)
    assert summary["records"] == 6
    assert summary["llm"]["model_calls"] == 6 - paid  # the completed shards' runs
    assert [s["rows_out"] for s in summary["steps"]] == [6, 6, 6]


def test_a_complete_shard_is_not_run_again(workdir, shards):
    part = workdir / "sharded" / ".data.run" / "shards" / "00001-of-00002"

    def written() -> dict[str, int]:  # the lock is taken again, the rest left alone
        return {p.name: p.stat().st_mtime_ns for p in part.iterdir() if p.name != "lock"}

    before = written()
    again = run_cli(*shard_args("--shard", "1/2", "--cache", str(shards[0][1])), cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert written() == before and "part.summary.json" in before


def test_cache_merge_joins_worker_caches_so_a_rerun_replays(workdir, shards, tmp_path):
    parts = [str(cache) for cache in shards[0]]
    merged = tmp_path / "merged.sqlite3"
    bad = run_cli("cache", "merge", str(merged), str(workdir / "recipe.yaml"), cwd=workdir)
    assert bad.returncode == 2 and "recipe.yaml: cannot open" in bad.stderr
    joined = run_cli("cache", "merge", str(merged), *parts, cwd=workdir)
    assert joined.returncode == 0, joined.stderr
    assert cached_requests(merged) == 6
    out = tmp_path / "replayed" / "data.jsonl"
    again = run_cli("run", "recipe.yaml", "--out", str(out), "--cache", str(merged), "--quiet",
                    cwd=workdir)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert summary_of(out)["llm"]["model_calls"] == 0
    assert out.read_bytes() == (workdir / "full" / "data.jsonl").read_bytes()


def test_merge_refuses_parts_of_another_limit(workdir, tmp_path):
    cache = tmp_path / "cache.sqlite3"
    shutil.copy(workdir / "full.sqlite3", cache)  # replayed: no model call
    args = ["run", "recipe.yaml", "--out", "limited/data.jsonl", "--quiet", "--cache", str(cache)]
    for index in (0, 1, 2):
        done = run_cli(*args, "--limit", "4", "--shard", f"{index}/3", cwd=workdir)
        assert done.returncode == 0, done.stderr
    other = run_cli(*args, "--merge", cwd=workdir)
    assert other.returncode == 2 and "another recipe, backend or --limit" in other.stderr
    merged = run_cli(*args, "--limit", "4", "--merge", cwd=workdir)
    assert merged.returncode == 0, merged.stderr
    full = read_jsonl(workdir / "full" / "data.jsonl")
    assert read_jsonl(workdir / "limited" / "data.jsonl") == full[:4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "2/2"], "argument --shard: give i/N with 0 <= i < N"),
        (["--shard", "x"], "argument --shard: give i/N"),
        (["--shard", "0/2", "--merge"], "not allowed with argument"),
    ],
)
def test_bad_shard_options_are_one_line(workdir, args, message):
    done = run_cli("run", "recipe.yaml", *args, cwd=workdir)
    assert done.returncode == 2 and message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_model_source_cannot_be_split(tmp_path):
    done = run_cli("run", "self_instruct", "--shard", "0/2", "--no-cache", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "generates its rows with a model" in done.stderr and "Traceback" not in done.stderr


def test_sharded_images_land_beside_the_merged_output(tmp_path):
    """Steps in a shard see the run's output, not the shard's part: their images go to
    images/ beside the merged data.jsonl, where its records' relative paths point."""
    run = ["run", "abstract_images", "--set", "steps[0].params.count=6", "--quiet"]
    whole = run_cli(*run, "--out", "whole/data.jsonl", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    drawn = []  # images on disk after each shard: a shard draws only its own rows' images
    for extra in (["--shard", "0/2"], ["--shard", "1/2"], ["--merge"]):
        done = run_cli(*run, "--out", "sharded/data.jsonl", *extra, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        drawn.append(len(list((tmp_path / "sharded" / "images").rglob("*.png"))))
    assert drawn == [3, 6, 6]
    merged = read_jsonl(tmp_path / "sharded" / "data.jsonl")
    assert merged == read_jsonl(tmp_path / "whole" / "data.jsonl") and len(merged) == 6
    for record in merged:
        assert (tmp_path / "sharded" / record["image"]).is_file(), record["image"]
    assert not list((tmp_path / "sharded").glob(".data.run/shards/*/images"))


def test_shard_totals_add_counters_and_cost_but_not_rates(tmp_path):
    from synthaug.engine.shards import shard_totals

    parts = []
    for index, (calls, cost) in enumerate([(3, 0.25), (4, 0.5)]):
        folder = tmp_path / f"{index:05d}-of-00002"
        folder.mkdir()
        llm = {"model_calls": calls, "tokens_per_s": 10.0, "cost_usd": cost}
        (folder / "part.summary.json").write_text(json.dumps({"steps": [], "llm": llm}))
        parts.append(folder / "part.jsonl")
    assert shard_totals(parts, []) == {"model_calls": 7, "cost_usd": 0.75}
