"""Helpers shared by the curation commands: options, embedders, columns, the summary."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..curate.files import FileCuration, render
from ..engine.shards import shard_argument
from ..errors import SynthaugError
from ..hashing import stable_hash
from ..llm.cache import RequestCache
from ..llm.embeddings import Embedder, EmbedderSpec
from ..resources import add_cache_options, resources_from_args

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
    """--shard I/N and --merge, for a command that decides each row on its own."""
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
NOT_DECIDING = {"shard", "merge", "quiet", "report", "out", "argv", "cache", "no_cache"}


def curation_job(operation: str, args: argparse.Namespace, columns: list[str]) -> FileCuration:
    """The command's file plumbing, for its --shard when it has one (a shard and the merge
    must be made by the same deciding options)."""
    deciding = {k: str(v) for k, v in vars(args).items()
                if k not in NOT_DECIDING and not callable(v)}  # fmt: skip
    made_by = stable_hash([operation, sorted(deciding.items())], 16)
    return FileCuration(operation, args.input, args.out, columns, args.report, args.quiet,
                        getattr(args, "shard", None), made_by)  # fmt: skip


def merged(operation: str, args: argparse.Namespace, columns: list[str]) -> int:
    """--merge: the output of the command's complete shards."""
    job = curation_job(operation, args, columns)
    return finish(job, *job.merge())


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
