"""Shared fixtures: the real embedded model, a real request cache, helpers to run the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from synthaug.llm.local import LocalBackend

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker runs on its own share of the CPUs (children inherit it).

    llama.cpp's threads spin while they wait, so two engines on the same cores starve each
    other; pinned, each worker's engine sizes itself to its share (``usable_cpus``).
    """
    worker, count = (
        os.environ.get("PYTEST_XDIST_WORKER"),
        os.environ.get("PYTEST_XDIST_WORKER_COUNT"),
    )
    if not worker or not count or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    share = cpus[int(worker.removeprefix("gw")) :: int(count)]
    if share:
        os.sched_setaffinity(0, share)


YES_NO_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["Yes", "No"]}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def local_backend():
    """One embedded SmolLM2 engine (4 slots) shared by the in-process tests."""
    backend = LocalBackend(parallel=4)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(backend.start())
    yield backend
    loop.run_until_complete(backend.close())
    loop.close()


SELF_INSTRUCT_RUN = [
    "self_instruct",
    "--set",
    "steps[0].params.num_instructions=6",
    "--set",
    "steps[0].params.max_tokens=160",
    "--set",
    "steps[0].params.requests_in_flight=8",
]


SMALL_SELF_REWARDING = (  # deterministic, one thread: the same replies on any machine
    "--set", "backend.deterministic=true", "--set", "backend.threads=1",
    "--set", "seed=0",  # this seed gives a pair (the other prompt may tie)
    "--limit", "2",
    "--set", "steps[1].params.per_prompt=2",
    "--set", "steps[1].params.max_tokens=32",
    "--set", "steps[2].params.samples=2",
    "--set", "steps[2].params.max_tokens=40",
    "--set", "steps[2].params.justification_chars=60",
)  # fmt: skip
"""A small Self-Rewarding run's options (recipe ``self_rewarding`` or a file like it)."""


@pytest.fixture(scope="session")
def self_instruct_run(tmp_path_factory) -> Path:
    """One small real Self-Instruct run (the embedded model) for the tests that read a run's
    files (report, card, view): its output, summary, errors and checkpoints. Copy it with
    ``copy_run`` before writing beside it."""
    workdir = tmp_path_factory.mktemp("self-instruct-run")
    out = workdir / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(workdir / "cache.sqlite3")}
    done = run_cli("run", *SELF_INSTRUCT_RUN, "--out", str(out), "--quiet", cwd=workdir, env=env)
    assert done.returncode == 0, done.stderr
    assert read_jsonl(out), "the run produced no records"
    return out


def copy_run(out: Path, folder: Path) -> Path:
    """The run that wrote ``out``, copied whole into ``folder``; its output's new path."""
    shutil.copytree(out.parent, folder, dirs_exist_ok=True)
    return folder / out.name


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    """Run ``synthaug ARGS`` as a real subprocess; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "synthaug.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def start_llamacpp_http(api_key: str, embedding: bool = False, threads: int | None = None):
    """llama.cpp's HTTP server on 127.0.0.1 with the bundled model, locked by ``api_key``.

    Returns the server object (keep a reference) and its ``/v1`` base URL. With
    ``embedding``, it serves mean-pooled ``/v1/embeddings`` instead of completions;
    ``threads`` caps its CPU threads (default: llama.cpp's).
    """
    import xllamacpp

    from synthaug.llm.local import default_model_path

    params = xllamacpp.CommonParams()
    params.model.path = str(default_model_path())
    params.n_parallel = 2
    params.n_ctx = 4096
    params.verbosity = -1
    params.api_keys = [api_key]
    if threads is not None:
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
    if embedding:
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    server = xllamacpp.Server(params)
    return server, server.listening_address + "/v1"


def run_on_endpoint(recipe: str, overrides: list[str], url: str, key: str, cwd: Path) -> list[dict]:
    """``synthaug run RECIPE`` through the ``openai`` backend at ``url`` (key ``key``): checks
    what holds for any model (every model call went to the endpoint, some row came out, every
    error row says why, ``synthaug verify`` agrees with every record carrying evidence);
    returns the records."""
    out = cwd / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3"), "K": key}
    done = run_cli(
        "run", recipe, *overrides, "--out", str(out), "--quiet",
        "--backend", "openai", "--base-url", url, "--model", "smollm2",
        "--api-key-env", "K", cwd=cwd, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = summary_of(out)
    assert summary["backend"].startswith("openai") and summary["llm"]["model_calls"] > 0
    records = read_jsonl(out)
    errors_path = out.with_name("data.errors.jsonl")
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert summary["steps"][0]["rows_out"] >= 1 and records + errors, "no row came out"
    for error in errors:
        assert error["_meta"]["error"]["kind"] and error["_meta"]["error"]["message"]
    assert all(r["_meta"]["model"].startswith("openai:") for r in records if "model" in r["_meta"])
    if any("verification" in r for r in records):
        checked = run_cli("verify", str(out), "--json", "--quiet", cwd=cwd, env=env)
        report = json.loads(checked.stdout)
        assert checked.returncode == 0 and report["disagreements"] == [], checked.stdout
    return records


def summary_of(out: Path) -> dict:
    """The run summary written beside ``out``."""
    stem = out.with_suffix("")
    return json.loads(stem.with_name(stem.name + ".summary.json").read_text())


def cached_requests(path: Path) -> int:
    """How many completions the request cache at ``path`` holds (0 before it exists)."""
    try:
        with sqlite3.connect(path, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def kill_mid_run(
    args: list[str],
    cwd: Path,
    cache: Path,
    after_calls: int,
    while_running: Callable[[int], None] | None = None,
) -> int:
    """Start ``synthaug ARGS``, SIGKILL it once ``after_calls`` answers are cached; returns that count.

    ``while_running(pid)`` is called just before the kill."""
    victim = subprocess.Popen(
        [sys.executable, "-m", "synthaug.cli", *args],
        cwd=cwd,
        env={**os.environ, "SYNTHAUG_CACHE": str(cache)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while (
        cached_requests(cache) < after_calls
        and victim.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert victim.poll() is None, "the run finished before it could be killed"
    if while_running is not None:
        while_running(victim.pid)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    paid = cached_requests(cache)
    assert paid >= after_calls, (
        f"only {paid} of {after_calls} answers cached in 300 s: no kill test"
    )
    return paid


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def run_recipe_twice(cwd: Path, *args: str) -> list[dict]:
    """``synthaug run ARGS --out data.jsonl`` on a fresh cache, then again.

    The rerun must make no model call and give the same records; returns them.
    """
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    out = cwd / "data.jsonl"
    first = run_cli("run", *args, "--out", str(out), "--quiet", cwd=cwd, env=env)
    assert first.returncode == 0, first.stderr
    records = read_jsonl(out)
    again = run_cli("run", *args, "--out", str(out), "--quiet", cwd=cwd, env=env)
    assert again.returncode == 0, again.stderr
    assert summary_of(out)["llm"]["model_calls"] == 0
    assert read_jsonl(out) == records
    return records


def resume_after_kill(
    cwd: Path,
    *args: str,
    after_calls: int,
    while_running: Callable[[int], None] | None = None,
) -> tuple[list[dict], dict, int]:
    """``synthaug run ARGS --out data.jsonl``: SIGKILL it after ``after_calls`` cached answers
    (calling ``while_running(pid)`` first), run it again to the end, then once more.

    Asserts the kill left no output, the resumed run paid only for answers not cached
    before the kill, its record ids are unique, no temp file is left, and the last run
    makes no model call and gives the same records. The killed run's answers come back as
    cache hits or, for a map step that finished before the kill, as its checkpointed rows,
    so the resumed run's cache hits alone may be fewer than the answers paid for. Returns
    the records, the resumed run's summary and how many answers were cached before the kill.
    """
    cache, out = cwd / "cache.sqlite3", cwd / "data.jsonl"
    command = ["run", *args, "--out", str(out), "--quiet"]
    env = {"SYNTHAUG_CACHE": str(cache)}
    paid_before_kill = kill_mid_run(command, cwd, cache, after_calls, while_running)
    assert not out.exists(), "a killed run must not leave a (half-written) output"
    resumed = run_cli(*command, cwd=cwd, env=env)
    assert resumed.returncode == 0, resumed.stderr
    records, summary = read_jsonl(out), summary_of(out)
    assert summary["llm"]["model_calls"] == cached_requests(cache) - paid_before_kill
    reused = sum(step["reused_from_checkpoint"] for step in summary["steps"])
    assert summary["llm"]["cache_hits"] + reused > 0, "the killed run's work was not kept"
    ids = [r["_meta"]["id"] for r in records]
    assert records and len(ids) == len(set(ids)), "duplicate records after resume"
    assert not list(cwd.glob(".data*.tmp-*")), "stale temp files left behind"
    again = run_cli(*command, cwd=cwd, env=env)
    assert again.returncode == 0, again.stderr
    assert summary_of(out)["llm"]["model_calls"] == 0 and read_jsonl(out) == records
    return records, summary, paid_before_kill


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (which never downloads a browser here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


SHARDABLE_RECIPE = """\
name: shardable
seed: 0
backend: {type: local, parallel: 2, deterministic: true, threads: 1}
steps:
  - {name: bios, method: rewrite.bios, params: {num_people: 6}}
  - {name: rewrite, method: rewrite.style, params: {max_tokens: 12}}
  - {name: dedup, method: dedup_exact, params: {columns: [text]}}
"""
"""A seeded source, a model-calling map step and a whole-input step: 6 records, made the
same way at any thread count (for the ``--shard`` and ``--executor ray`` tests)."""


def shardable_run(cwd: Path, out: str, cache: str) -> Path:
    """Write ``SHARDABLE_RECIPE`` to ``cwd/recipe.yaml`` and run it locally to ``out``."""
    (cwd / "recipe.yaml").write_text(SHARDABLE_RECIPE)
    done = run_cli("run", "recipe.yaml", "--out", out, "--cache", cache, "--quiet", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert len(read_jsonl(cwd / out)) == 6
    return cwd / out


# -- a real two-node Ray cluster on 127.0.0.1 (test_ray, test_ray_curate) --------------------

RAY_LOOPBACK_NODE = (
    "import sys, ray._private.services as s; s.resolve_ip_for_localhost = lambda host: host; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)
"""``ray start`` turns a loopback ``--node-ip-address`` into the machine's outward address;
the nodes start through ``ray.scripts.scripts.main`` with that one rewrite turned off."""
RAY_TOKEN = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}  # every RPC
RAY_DRIVER_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **RAY_TOKEN}  # keeps it on loopback


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RayNode:
    """One ``ray start --block`` process group on 127.0.0.1 with one CPU."""

    def __init__(self, log: Path, *args: str):
        self.log = log
        ports = ["--dashboard-agent-listen-port", str(free_port())]
        command = [sys.executable, "-c", RAY_LOOPBACK_NODE, "start", "--block", *args, *ports]
        command += ["--num-cpus", "1", "--node-ip-address", "127.0.0.1"]
        command += ["--object-store-memory", str(80 * 2**20), "--disable-usage-stats"]
        with open(log, "w") as handle:
            self.process = subprocess.Popen(
                command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **RAY_TOKEN},
            )

    def wait_started(self) -> None:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "Ray node did not start"
            time.sleep(0.5)

    def owns(self, pid: int) -> bool:
        """Whether process ``pid`` runs in this node's session (e.g. its workers, each in a
        process group of its own)."""
        try:
            return os.getsid(pid) == self.process.pid
        except OSError:  # gone, or not ours to see
            return False

    def kill(self) -> None:
        """Kill the node as a dead machine would lose it: every process of its session."""
        if self.process.poll() is None or _group_alive(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        for pid in filter(self.owns, (int(p) for p in os.listdir("/proc") if p.isdigit())):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def ray_cluster() -> Iterator[tuple[str, RayNode]]:
    """For a module fixture: ``(address, second node)`` of a running head plus second node,
    torn down however it ends. Every RPC needs ``RAY_TOKEN`` (drivers: ``RAY_DRIVER_ENV``)."""
    folder = Path(tempfile.mkdtemp(prefix="sa-ray-", dir="/tmp"))  # short: socket paths
    port = free_port()
    nodes: list[RayNode] = []
    try:
        head = RayNode(
            folder / "head.log",
            "--head", "--port", str(port), "--temp-dir", str(folder / "t"),
            "--include-dashboard=false", "--ray-client-server-port", str(free_port()),
        )  # fmt: skip
        nodes.append(head)
        head.wait_started()
        second = RayNode(folder / "second.log", "--address", f"127.0.0.1:{port}")
        nodes.append(second)
        second.wait_started()
        yield f"127.0.0.1:{port}", second
    finally:
        for node in reversed(nodes):
            node.kill()
