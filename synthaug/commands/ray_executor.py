"""``--executor ray``: a command's shards as Ray tasks, then the merge here.

``shards_on_ray`` runs one function per shard as a Ray task of one CPU, run again where its
worker or node dies; ``synthaug run`` and the row-by-row curation commands (decontaminate,
filter: ``commands.curation``) run their ``--shard i/N`` path in it, then their ``--merge``.

For ``synthaug run``, each of the ``--workers`` shards (``synthaug.engine.shards``) is one Ray task of one CPU that
builds its own model clients (the recipe's backend: a local model per worker, or the
endpoint) and runs ``synthaug run --shard i/N`` in the worker, with its checkpoints and part
in the run folder: beside ``--out`` or the ``--run-dir`` path, which every node must see (a
shared filesystem), or a ``--run-dir`` URL such as ``s3://bucket/run``, which every node
writes to and the merge reads from (no shared filesystem; each node finds the credentials in
``--storage-option`` or its own environment). The
request cache is the one ``--cache`` names, also on that path (SQLite in WAL mode takes
several writers; give each node its own with a shared-nothing setup and join them afterwards
with ``synthaug cache merge``). When a node dies, Ray runs its task again elsewhere; the
shard resumes from its checkpoints and the cache. When the driver dies, the same command
resumes every unfinished shard the same way. The merge then runs here, as ``--merge`` does,
so the output is byte for byte the one a local run writes. ``--max-cost``/``--max-tokens``
are split evenly between the shards; a shard that spends its share stops cleanly, and the
command exits 3 (resumable) without merging.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import synthaug

from ..engine.shards import Shard, check_shardable
from ..errors import SynthaugError
from ..llm.cache import default_cache_path
from ..recipe import Recipe, build_pipeline

RETRIES = 3  # a task whose worker or node died runs again up to this many times


def add_executor_options(parser: argparse.ArgumentParser, on_ray: str, workers: str) -> None:
    """``--executor local|ray``, ``--address`` and ``--workers``; ``on_ray`` says what runs on
    Ray, ``workers`` what a worker is."""
    parser.add_argument(
        "--executor", choices=("local", "ray"), default="local",
        help=f"local (this process) or ray: {on_ray}",
    )  # fmt: skip
    parser.add_argument(
        "--address",
        help="with --executor ray: the cluster (auto, or HOST:PORT); default: a local Ray "
        "on 127.0.0.1 with token auth",
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N",
        help=f"with --executor ray: how many {workers} (default 2)",
    )  # fmt: skip


def run_shards_on_ray(recipe: Recipe, args: argparse.Namespace) -> str | None:
    """Run every shard of ``recipe`` as a Ray task on the cluster at ``args.address`` (a
    local Ray when None) and wait for them all; a shard's error is one line. Returns why
    shards stopped early (their budget spent), None when all are complete."""
    check_executor_options(args)
    check_shardable(build_pipeline(recipe).steps)
    from .run import output_path, run_folder

    run_folder(args, output_path(recipe, args))  # a bad --run-dir is one line before Ray starts
    more = {"out": output_path(recipe, args).absolute(), **shard_budget(args, args.workers)}
    work = partial(_run_shard, recipe, worker_args(args, **more))
    shards = [Shard(i, args.workers) for i in range(args.workers)]
    return shards_on_ray(args.address, work, shards, args.quiet)


def check_executor_options(args: argparse.Namespace) -> None:
    """``--executor ray`` runs and merges the shards itself, on at least one worker."""
    if getattr(args, "shard", None) or getattr(args, "merge", False):
        raise SynthaugError(
            "--executor ray: runs and merges the shards itself; drop --shard/--merge"
        )
    if args.workers < 1:
        raise SynthaugError("--workers: must be at least 1")


def worker_args(args: argparse.Namespace, **more: Any) -> argparse.Namespace:
    """The command's options as a shard runs them in a worker: quiet, local, the request
    cache (when the command has one) as an absolute path, ``more`` on top."""
    options = {**vars(args), "quiet": True, "executor": "local", **more}
    if "no_cache" in options:
        options["cache"] = (
            None if args.no_cache else Path(args.cache or default_cache_path()).absolute()
        )
    options.pop("handler", None)
    return argparse.Namespace(**options)


def shards_on_ray(
    address: str | None,
    work: Callable[[Shard], tuple[int, str | None]],
    shards: list[Shard],
    quiet: bool,
) -> str | None:
    """Run ``work(shard)`` (picklable; in the driver's working directory) for each of
    ``shards`` as a Ray task of one CPU on the cluster at ``address`` (a local Ray when None),
    run again where its worker or node dies, and wait for them all; a shard's error is one
    line. ``work`` returns the shard's row count and why it stopped early, if it did; this
    returns those reasons joined, None when every shard is complete."""
    if not shards:
        return None
    ray = connect(address)
    try:
        task = ray.remote(_in_worker).options(num_cpus=1, max_retries=RETRIES)
        pending = {task.remote(work, shard, os.getcwd()): shard for shard in shards}
        done, stopped = 0, []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            shard = pending.pop(ready[0])
            name = f"shard {shard.index}/{shard.count}"
            try:
                rows, stop = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:
                raise SynthaugError(f"{name}: {exc.cause}") from None
            except ray.exceptions.RayError as exc:  # a worker or node lost past the retries
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise SynthaugError(f"{name}: {first}") from None
            done += 1
            if stop:
                stopped.append(f"{name}: {stop}")
            elif not quiet:
                print(f"synthaug: {name} done ({rows} rows); {done}/{len(shards)}", file=sys.stderr)
    finally:
        ray.shutdown()
    return "; ".join(stopped) or None


def shard_budget(args: argparse.Namespace, count: int) -> dict[str, Any]:
    """Each of ``count`` shards' share of ``--max-cost``/``--max-tokens``."""
    max_cost, max_tokens = getattr(args, "max_cost", None), getattr(args, "max_tokens", None)
    return {
        "max_cost": max_cost / count if max_cost else None,
        "max_tokens": max(1, max_tokens // count) if max_tokens else None,
    }


def connect(address: str | None, cpus: int | None = None) -> Any:
    """The ``ray`` module, connected to the cluster at ``address`` (a local Ray when None,
    of ``cpus`` CPUs when given), its workers importing this synthaug."""
    local: dict[str, Any] = {}
    if address is None:  # a Ray of our own: on 127.0.0.1 only, every connection with a token
        os.environ.setdefault("RAY_AUTH_MODE", "token")  # read when ray is imported
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        local = {"_node_ip_address": "127.0.0.1", "include_dashboard": False, "num_cpus": cpus}
    try:
        import ray
    except ImportError:
        raise SynthaugError(
            "--executor ray: Ray is not installed; pip install 'synthaug[ray]'"
        ) from None
    code = str(Path(synthaug.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (code, os.environ.get("PYTHONPATH")) if p)
    try:
        ray.init(address=address, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}}, **local)  # fmt: skip
    except (ConnectionError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SynthaugError(f"--address {address or '(local)'}: Ray: {first}") from None
    return ray


def _in_worker(work: Callable[[Shard], Any], shard: Shard, cwd: str) -> Any:
    """In a Ray worker: ``work(shard)`` in the driver's working directory."""
    os.chdir(cwd)  # relative paths in the options mean what they mean to the driver
    try:
        return work(shard)
    except SynthaugError as exc:  # as the base class: its subclasses' __init__ do not unpickle
        raise SynthaugError(str(exc)) from None


def _run_shard(recipe: Recipe, args: argparse.Namespace, shard: Shard) -> tuple[int, str | None]:
    """Run one shard as ``synthaug run --shard`` does; its row count and why it stopped
    early (its share of the budget spent), if it did."""
    from .run import execute

    result = execute(recipe, args, shard)
    return result.summary["records"], result.stopped
