"""``synthaug run --run-dir URL``: checkpoints and shard parts on an S3 bucket.

Real S3 cannot run here, so the module starts moto's S3 server (``ThreadedMotoServer``, which
implements the S3 REST API as AWS publishes it) on 127.0.0.1 and reaches it through s3fs, as
a user reaches a bucket: credentials from ``AWS_*`` variables or ``--storage-option``, the
endpoint from ``--storage-option endpoint_url=`` or ``AWS_ENDPOINT_URL``. A run with its
checkpoints on S3, stopped by its budget, killed with ``kill -9`` and run again, writes the
bytes of a run on the same cache and reads its checkpoints back from the bucket; ``--shard
i/N`` and ``--merge`` through the bucket (and the shards as Ray tasks) write the bytes of a
local run; bad folders and options are one line; no secret reaches a summary or an output.
"""

from __future__ import annotations

import json
import secrets
from argparse import Namespace
from pathlib import Path

import pytest
from conftest import (
    SHARDABLE_RECIPE,
    cached_requests,
    kill_mid_run,
    read_jsonl,
    run_cli,
    summary_of,
)

from synthaug.cli import main
from synthaug.commands.run import redacted
from synthaug.engine.checkpoint import ShardStore
from synthaug.engine.storage import Remote, record_writer, redact, run_path

BUCKET = "synthaug-runs"
SECRET = secrets.token_hex(16)  # the environment's secret key
OPTION_SECRET = secrets.token_hex(16)  # one given with --storage-option
EDA = ["run", "eda", "--limit", "6", "--quiet"]


class S3:
    """The moto server's endpoint and an s3fs client on it (listings never cached)."""

    def __init__(self, endpoint: str):
        import s3fs

        self.endpoint = endpoint
        self.fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)

    def files(self, prefix: str) -> list[str]:
        self.fs.invalidate_cache()
        return [p.removeprefix(f"{BUCKET}/{prefix}/") for p in self.fs.find(f"{BUCKET}/{prefix}")]

    def read(self, prefix: str, name: str) -> bytes:
        return self.fs.cat_file(f"{BUCKET}/{prefix}/{name}")


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1 with one bucket; the AWS credentials in the environment
    (moto checks none, boto3 signs with them)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "synthaug-test")
        env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        host, port = server.get_host_and_port()
        store = S3(f"http://{host}:{port}")
        store.fs.mkdir(BUCKET)
        try:
            yield store
        finally:
            server.stop()


@pytest.fixture(scope="module")
def eda_local(tmp_path_factory) -> bytes:
    """The bytes of the ``eda`` recipe's local run (no model)."""
    cwd = tmp_path_factory.mktemp("eda-local")
    done = run_cli(*EDA, "--out", "data.jsonl", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert len(read_jsonl(cwd / "data.jsonl")) > 6
    return (cwd / "data.jsonl").read_bytes()


def assert_no_secret(cwd: Path, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text and OPTION_SECRET not in text
    for path in cwd.rglob("*"):
        if path.is_file() and path.suffix != ".sqlite3":
            data = path.read_bytes()
            assert SECRET.encode() not in data and OPTION_SECRET.encode() not in data, path


def test_a_killed_run_resumes_from_its_checkpoints_on_s3(s3, tmp_path):
    (tmp_path / "recipe.yaml").write_text(SHARDABLE_RECIPE)
    cache = tmp_path / "cache.sqlite3"
    env = {"SYNTHAUG_CACHE": str(cache)}
    run = ["run", "recipe.yaml", "--out", "data.jsonl", "--quiet", "--run-dir",
           f"s3://{BUCKET}/killed", "--storage-option", f"endpoint_url={s3.endpoint}"]  # fmt: skip
    spent = run_cli(*run, "--max-tokens", "300", cwd=tmp_path, env=env)
    assert spent.returncode == 3, spent.stderr
    [chunk] = [f for f in s3.files("killed") if f.startswith("checkpoints/")]
    assert chunk.startswith("checkpoints/01-rewrite-") and chunk.endswith("/chunk-000000.jsonl")
    stored = s3.read("killed", chunk).decode().splitlines()
    assert 0 < len(stored) < 6
    assert not (tmp_path / ".data.run").exists(), "a URL run folder leaves nothing beside --out"

    paid = kill_mid_run(run, tmp_path, cache, after_calls=cached_requests(cache) + 1)
    assert not (tmp_path / "data.jsonl").exists()
    resumed = run_cli(*run, cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    out = tmp_path / "data.jsonl"
    summary, records = summary_of(out), read_jsonl(out)
    assert summary["steps"][1]["reused_from_checkpoint"] >= len(stored)
    assert summary["llm"]["model_calls"] == 6 - paid == cached_requests(cache) - paid
    assert len({r["_meta"]["id"] for r in records}) == len(records) == 6

    only_checkpoints = run_cli(*run, "--no-cache", cwd=tmp_path, env=env)
    assert only_checkpoints.returncode == 0, only_checkpoints.stderr
    again = summary_of(out)
    assert again["steps"][1]["reused_from_checkpoint"] == 6 and again["llm"]["model_calls"] == 0
    assert read_jsonl(out) == records

    local = run_cli("run", "recipe.yaml", "--out", "local/data.jsonl", "--quiet", cwd=tmp_path,
                    env=env)  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert summary_of(tmp_path / "local" / "data.jsonl")["llm"]["model_calls"] == 0
    assert (tmp_path / "local" / "data.jsonl").read_bytes() == out.read_bytes()
    assert_no_secret(tmp_path, resumed.stdout, resumed.stderr)


def test_shards_and_merge_through_s3_write_the_local_bytes(s3, eda_local, tmp_path):
    run = [*EDA, "--out", "sharded/data.jsonl", "--run-dir", f"s3://{BUCKET}/sharded",
           "--storage-option", f"endpoint_url={s3.endpoint}",
           "--storage-option", "key=synthaug-test", f"--storage-option=secret={OPTION_SECRET}"]  # fmt: skip
    first = run_cli(*run, "--shard", "0/2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    early = run_cli(*run, "--merge", cwd=tmp_path)
    assert early.returncode == 2 and "shard(s) 1/2 not complete" in early.stderr, early.stderr
    assert f"s3://{BUCKET}/sharded" in early.stderr and len(early.stderr.splitlines()) == 1
    second = run_cli(*run, "--shard", "1/2", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    merged = run_cli(*run, "--merge", cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr

    out = tmp_path / "sharded" / "data.jsonl"
    assert out.read_bytes() == eda_local
    assert sorted(p.name for p in out.parent.iterdir()) == ["data.jsonl", "data.summary.json"]
    parts = s3.files("sharded")
    for shard in ("00000-of-00002", "00001-of-00002"):
        assert {f"shards/{shard}/part.jsonl", f"shards/{shard}/part.summary.json"} <= set(parts)
    command = summary_of(out)["reproduce"]["command"]
    assert "--storage-option=secret=***" in command and "endpoint_url=***" in command
    assert_no_secret(tmp_path, first.stdout, merged.stdout, merged.stderr)
    for name in parts:
        assert OPTION_SECRET.encode() not in s3.read("sharded", name)


def test_ray_workers_write_their_parts_to_s3(s3, eda_local, tmp_path):
    env = {"AWS_ENDPOINT_URL": s3.endpoint, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    done = run_cli(*EDA, "--out", "data.jsonl", "--run-dir", f"s3://{BUCKET}/ray",
                   "--executor", "ray", "--workers", "2", cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data.jsonl").read_bytes() == eda_local
    assert not (tmp_path / ".data.run").exists()
    summaries = [f for f in s3.files("ray") if f.endswith("part.summary.json")]
    assert summaries == [f"shards/0000{i}-of-00002/part.summary.json" for i in (0, 1)]
    assert_no_secret(tmp_path, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--run-dir", "nosuch://x"], "--run-dir nosuch://x: Protocol not known: nosuch"),
        (["--run-dir", "gs://b/run"], "--run-dir gs://b/run: Please install gcsfs"),
        (["--run-dir", "s3://nosuch-bucket/run"], "nosuch-bucket/run: The specified bucket does"),
        (["--run-dir", "s3://b/run", "--storage-option", "endpoint_url"], "give KEY=VALUE"),
        (["--storage-option", "anon=true"], "--storage-option: only with a --run-dir URL"),
        (
            ["--run-dir", "s3://b/run", "--storage-option", "endpoint_url=http://127.0.0.1:9",
             "--storage-option", 'config_kwargs={"retries": {"max_attempts": 1}}'],
            "--run-dir s3://b/run: Could not connect to the endpoint URL",
        ),
    ],
)  # fmt: skip
def test_bad_run_folders_are_one_line(s3, tmp_path, capsys, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    assert main([*EDA, "--out", "data.jsonl", *options]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "data.jsonl").exists()


def test_checkpoints_and_parts_round_trip_on_memory():
    folder = run_path("memory://synthaug-test/run")
    assert isinstance(folder, Remote) and str(folder) == "memory://synthaug-test/run"
    store = ShardStore(folder / "checkpoints" / "01-step", chunk_size=2)
    for index in range(3):
        store.add(index, f"p{index}", [{"text": str(index), "_meta": {"id": f"r{index}"}}])
    store.flush()
    names = [p.name for p in (folder / "checkpoints" / "01-step").glob("chunk-*.jsonl")]
    assert names == ["chunk-000000.jsonl", "chunk-000001.jsonl"]
    loaded = ShardStore(folder / "checkpoints" / "01-step", chunk_size=2).load()
    assert loaded[2] == ("p2", [{"text": "2", "_meta": {"id": "r2"}}]) and len(loaded) == 3

    part = folder / "part.jsonl"
    with pytest.raises(RuntimeError), record_writer(part) as writer:
        writer.write({"a": 1})
        raise RuntimeError("killed mid-part")
    assert not part.exists(), "a failed writer uploads nothing"
    with record_writer(part) as writer:
        writer.write({"a": 1})
    assert part.exists() and json.loads(part.read_text()) == {"a": 1}
    assert part.with_suffix("").with_name("part.summary.json").name == "part.summary.json"
    part.unlink()
    part.unlink(missing_ok=True)
    assert not part.exists()
    assert run_path("file:///tmp/x/run") == Path("/tmp/x/run")
    assert run_path("runs/.data.run") == Path("runs/.data.run")


def test_credentials_are_hidden_in_the_command_recorded():
    assert redact("ftp://user:pw@host:21/run") == "ftp://***@host:21/run"
    argv = ["run", "r.yaml", "--run-dir", "ftp://user:pw@host/run", "--storage-option",
            "secret=s", "--storage-opt=key=k"]  # fmt: skip
    args = Namespace(storage_options=["secret=s", "key=k"], run_dir="ftp://user:pw@host/run")
    assert redacted(argv, args) == ["run", "r.yaml", "--run-dir", "ftp://***@host/run",
                                    "--storage-option", "secret=***", "--storage-opt=key=***"]  # fmt: skip
