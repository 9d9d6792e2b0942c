"""Helpers shared by the curation commands: options, embedders, columns, the summary."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ..curate.files import FileCuration, render
from ..curate.shards import shard_made_by, shard_outputs, splits
from ..engine.shards import Shard, shard_argument
from ..errors import SynthaugError
from ..hashing import stable_hash
from ..io.readers import resolve_format
from ..io.writers import write_format
from ..llm.cache import RequestCache
from ..llm.embeddings import Embedder, EmbedderSpec
from ..resources import add_cache_options, resources_from_args
from .ray_executor import add_executor_options, check_executor_options, shards_on_ray, worker_args

BATCH = 4096
EPILOG = "Writes OUT, OUT's .report.jsonl (one line per input row) and .summary.json. Bad input exits with code 2."


def embedder_options(parser: argparse.ArgumentParser, hashed: bool = False) -> None:
    """--embedder and its endpoint/cache options (``hashed``: offer lexical vectors, the default)."""
    choices = ["hashed", "minilm", "endpoint"] if hashed else ["minilm", "endpoint"]
    parser.add_argument(
        "--embedder",
        choices=choices,
        default=choices[0],
        help=("hashed: word 1-2-gram vectors; " if hashed else "")
        + "minilm: bundled all-MiniLM-L6-v2 (embeddings extra); endpoint: OpenAI-compatible",
    )
    parser.add_argument("--base-url", help="endpoint: e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", help="endpoint: embedding model name")
    parser.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="endpoint: variable with the key"
    )
    add_cache_options(parser)


def embedder_of(choice: Any, args: argparse.Namespace) -> tuple[Embedder, RequestCache | None]:
    """The embedder ``choice`` names (its ``embedder``, ``base_url``, ``model`` and
    ``api_key_env``: a step's params or the options themselves) and the cache of
    ``--cache``/``--no-cache``."""
    resources = resources_from_args(args)
    spec = EmbedderSpec(choice.embedder, choice.base_url, choice.model, choice.api_key_env)
    return resources.embedder(spec), resources.cache


def io_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", type=Path, help="data file (JSONL, JSON, CSV, Parquet, datasets folder)"
    )
    parser.add_argument(
        "-o", "--out", type=Path, required=True, help="output file (.jsonl or .parquet)"
    )
    parser.add_argument("--columns", required=True, help="comma-separated text columns to examine")
    parser.add_argument("--report", type=Path, help="report file (default: OUT's .report.jsonl)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def shard_options(parser: argparse.ArgumentParser) -> None:
    """--shard I/N, --merge and --executor ray, for a command that decides each row on its own."""
    add_executor_options(
        parser,
        "the rows in --workers shards, each a Ray task of one CPU (run again where a node "
        "dies) that writes OUT's .shard-IIIII-of-NNNNN files, so OUT must be on a path every "
        "node sees; then the merge here. Run again, it reuses the complete shards",
        "shards run as Ray tasks",
    )
    split = parser.add_mutually_exclusive_group()
    split.add_argument(
        "--shard",
        type=shard_argument,
        metavar="I/N",
        help="decide only the rows at positions p with p %% N == I (0-based; e.g. "
        "$SLURM_ARRAY_TASK_ID/N), into OUT's .shard-IIIII-of-NNNNN files",
    )
    split.add_argument(
        "--merge",
        action="store_true",
        help="check that all N shards of OUT are complete and write OUT, its report and "
        "summary from them: what one unsharded run writes",
    )


# options that do not change a row's verdict: a shard and its merge may differ in them
NOT_DECIDING = {"shard", "merge", "quiet", "report", "out", "argv", "cache", "no_cache",
                "executor", "address", "workers"}  # fmt: skip


def made_by(operation: str, args: argparse.Namespace) -> str:
    """A hash of the options that decide the rows and of the input file's size and
    modification time: a shard and its merge must share it."""
    deciding = {k: str(v) for k, v in vars(args).items()
                if k not in NOT_DECIDING and not callable(v)}  # fmt: skip
    return stable_hash([operation, sorted(deciding.items()), _stamp(args.input)], 16)


def _stamp(path: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of the input file or of each file of a datasets folder."""
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    stats = [(f, f.stat()) for f in files if f.exists()]
    return [(f.name, stat.st_size, stat.st_mtime_ns) for f, stat in stats]


def curation_job(operation: str, args: argparse.Namespace, columns: list[str]) -> FileCuration:
    """The command's file plumbing, for its --shard when it has one (a shard and the merge
    must be made by the same deciding options)."""
    return FileCuration(operation, args.input, args.out, columns, args.report, args.quiet,
                        getattr(args, "shard", None), made_by(operation, args))  # fmt: skip


def merged(
    operation: str, args: argparse.Namespace, columns: list[str], started: float | None = None
) -> int:
    """--merge: the output of the command's complete shards (its wall time from ``started``,
    a ``time.monotonic()``, when given)."""
    job = curation_job(operation, args, columns)
    job.started = started or job.started
    return finish(job, *job.merge())


def on_ray(operation: str, args: argparse.Namespace, columns: list[str]) -> int:
    """--executor ray: the shards not yet complete (made by these options and input) as Ray
    tasks, each running the command with --shard in a worker (which builds its own model
    clients, e.g. decontaminate's judge), then the merge here. Shards a killed driver left
    complete are reused; a shard whose node died runs again (``shards_on_ray``)."""
    started = time.monotonic()
    check_executor_options(args)
    resolve_format(args.input)  # a missing or unknown input fails here, before Ray starts
    write_format(args.out)
    count, stamp = args.workers, made_by(operation, args)
    others = [n for n in splits(args.out) if n != count]
    if others:
        raise SynthaugError(
            f"{args.out}: complete shards of another split ({', '.join(map(str, others))}) "
            f"lie beside it; remove them or use --workers {others[0]}"
        )
    todo = [s for s in map(partial(Shard, count=count), range(count))
            if shard_made_by(args.out, s) != stamp]  # fmt: skip
    if len(todo) < count and not args.quiet:
        print(f"synthaug: {count - len(todo)} of {count} shards complete; reusing them",
              file=sys.stderr)  # fmt: skip
    shards_on_ray(args.address, partial(_shard, args.handler, worker_args(args)), todo, args.quiet)
    return merged(operation, args, columns, started)


def _shard(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace,
           shard: Shard) -> tuple[int, None]:  # fmt: skip
    """In a Ray worker: the command with ``--shard``; the shard's row count."""
    handler(argparse.Namespace(**{**vars(args), "shard": shard}))
    summary = json.loads(shard_outputs(args.out, shard)[2].read_text(encoding="utf-8"))
    return summary["rows_in"], None


def split_columns(text: str) -> list[str]:
    columns = [c.strip() for c in text.split(",") if c.strip()]
    if not columns:
        raise SynthaugError("--columns: give at least one column name")
    return columns


def finish(job: FileCuration, summary: dict[str, Any], settings: dict[str, Any]) -> int:
    summary["settings"] = settings
    job.save(summary)
    print(render(summary))
    return 0
