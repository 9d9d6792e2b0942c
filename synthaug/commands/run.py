"""``synthaug run RECIPE`` and ``synthaug score IN -o OUT`` (a generated scoring recipe).

With ``--max-cost`` or ``--max-tokens``, a run whose budget is spent stops cleanly: it prints
its summary and one line saying how to continue, writes no output, and exits with
``BUDGET_EXIT`` (3); the same command with a larger budget (or none) resumes it.

``--shard i/N`` runs one share of the rows (e.g. one task of a Slurm job array) and ``--merge``
puts the N shares together into the output an unsharded run writes (``synthaug.engine.shards``).

``--run-dir`` names the run folder (checkpoints, shard parts): a local path, or an fsspec URL
such as ``s3://bucket/prefix`` (``synthaug.engine.storage``), with ``--storage-option`` for
the filesystem. A URL's folder keeps no lock and no backend state: those stay on the machine,
in ``~/.cache/synthaug/runs/HASH`` (beside the request cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from ..engine import RunResult
from ..engine.shards import Shard, shard_argument
from ..engine.storage import Remote, StorageError, redact, run_path
from ..errors import SynthaugError
from ..hashing import stable_hash
from ..io.lock import held_lock
from ..llm.cache import default_cache_path
from ..recipe import Recipe, build_pipeline, load_recipe, recipe_from_dict
from ..resources import (
    add_backend_options,
    add_budget_options,
    add_cache_options,
    add_price_option,
    add_sandbox_option,
    backend_overrides,
    resources_from_args,
)
from . import EPILOG, command
from .ray_executor import add_executor_options

SCORERS = ("alpagasus", "deita", "ifd")
BUDGET_EXIT = 3  # the budget was spent; the run stopped and resumes when run again


@command
def add_commands(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run a recipe (a YAML file or a built-in recipe name)",
        description="Run a recipe. A killed run resumes from its checkpoints and request "
        "cache when started again with the same arguments.",
        epilog=EPILOG,
    )
    run.add_argument("recipe", help="recipe file, or a built-in recipe name (e.g. self_instruct)")
    override_option(run, "a recipe value, e.g. --set steps[0].params.num_instructions=100")
    run.add_argument("--out", type=Path, help="output file (.jsonl or .parquet)")
    _run_options(run)
    run.set_defaults(handler=cmd_run)

    score = commands.add_parser(
        "score",
        help="score instruction data with a model: AlpaGasus, Deita, IFD",
        description="Add model-based scores to (instruction, input, output) rows: alpagasus "
        "(0-5 accuracy rating, keep >= 4.5), deita (complexity and quality, evol score), ifd "
        "(instruction-following difficulty; needs grammar + log-probabilities: the local backend "
        "or a llama.cpp server). Runs as a resumable pipeline with the request cache.",
        epilog=EPILOG,
    )
    score.add_argument("input", help="data file with instruction/input/output columns")
    score.add_argument(
        "-o", "--out", type=Path, required=True, help="output file (.jsonl or .parquet)"
    )
    score.add_argument("--methods", default=",".join(SCORERS), help="comma-separated (all three)")
    score.add_argument("--instruction-column", default="instruction")
    score.add_argument("--input-column", default="input", help="'' when there is none")
    score.add_argument("--output-column", default="output")
    override_option(
        score, "a value of the generated recipe, e.g. --set steps[1].params.threshold=4"
    )
    _run_options(score)
    score.set_defaults(handler=cmd_score)


def override_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--set KEY=VALUE`` (repeatable): a recipe override."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override {what}",
    )


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, metavar="N", help="stop after N source rows")
    add_backend_options(parser)
    add_cache_options(parser)
    add_sandbox_option(parser)
    add_price_option(parser)
    add_budget_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    add_run_dir_options(parser)
    add_executor_options(
        parser,
        "the rows in --workers shards, each a Ray task that builds its own model clients, "
        "checkpoints in the run folder (--run-dir: a path every node sees, or a URL every node "
        "reaches); then the merge here",
        "shards run as Ray tasks",
    )
    split = parser.add_mutually_exclusive_group()
    split.add_argument(
        "--shard",
        type=shard_argument,
        metavar="I/N",
        help="run only shard I of N (0-based; e.g. $SLURM_ARRAY_TASK_ID/N): the rows at "
        "source positions p with p %% N == I, up to the first whole-input step; its part goes "
        "to the run folder (--run-dir); --max-cost/--max-tokens then apply to this shard",
    )
    split.add_argument(
        "--merge",
        action="store_true",
        help="check that all N shards are complete and write the output from their parts "
        "(running the whole-input steps): the same records as an unsharded run",
    )


def add_run_dir_options(parser: argparse.ArgumentParser) -> None:
    """``--run-dir PATH|URL`` and ``--storage-option KEY=VALUE`` (repeatable)."""
    parser.add_argument(
        "--run-dir",
        metavar="PATH|URL",
        help="the run folder: checkpoints and shard parts (default: .STEM.run beside --out); a "
        "local path or an fsspec URL such as s3://bucket/prefix (pip install "
        "'synthaug[storage]'), written one whole object per file; a run resumes from it (a "
        "URL's lock stays on this machine, in ~/.cache/synthaug/runs)",
    )
    parser.add_argument(
        "--storage-option",
        dest="storage_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an fsspec option for a --run-dir URL, e.g. endpoint_url=http://HOST:9000 (VALUE "
        "read as JSON when it parses); credentials also from the filesystem's environment "
        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for s3://) or fsspec's "
        "FSSPEC_<PROTOCOL>_<OPTION> variables; values never appear in the summary",
    )


def storage_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--storage-option KEY=VALUE`` as fsspec storage options."""
    options: dict[str, Any] = {}
    for item in getattr(args, "storage_options", []):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SynthaugError(f"--storage-option {key.strip() or item}: give KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def cmd_run(args: argparse.Namespace) -> int:
    return run_recipe(load_recipe(args.recipe, args.overrides + backend_overrides(args)), args)


def cmd_score(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(SCORERS))
    if unknown or not methods:
        raise SynthaugError(
            f"--methods: unknown {', '.join(unknown) or '(none)'}; use {', '.join(SCORERS)}"
        )
    columns = {
        "instruction_column": args.instruction_column,
        "input_column": args.input_column or None,
        "output_column": args.output_column,
    }
    raw = {
        "name": "score_" + "_".join(methods),
        "output": str(args.out),
        "steps": [{"method": "load", "params": {"path": args.input}}]
        + [{"method": f"score.{m}", "params": dict(columns)} for m in methods],
    }
    return run_recipe(recipe_from_dict(raw, args.overrides + backend_overrides(args)), args)


def run_dir_for(out: Path) -> Path:
    """Where a run keeps its lock, checkpoints and backend state: ``.<stem>.run`` beside it."""
    return out.parent / f".{out.stem}.run"


def run_folder(args: argparse.Namespace, out: Path) -> Path | Remote:
    """The run folder: ``--run-dir`` (a path, or a URL it reaches and may write to), else
    ``run_dir_for(out)``."""
    options = storage_options(args)
    if not getattr(args, "run_dir", None):
        if options:
            raise SynthaugError("--storage-option: only with a --run-dir URL")
        return run_dir_for(out)
    try:
        where = run_path(args.run_dir, options)
        if isinstance(where, Remote):
            where.check()
    except StorageError as exc:
        raise StorageError(f"--run-dir {exc}") from None
    if options and not isinstance(where, Remote):
        raise SynthaugError("--storage-option: only with a --run-dir URL")
    return where


def local_state(folder: Path | Remote) -> Path:
    """Where a run in ``folder`` keeps its lock and backend state: there, for a local folder;
    for a URL, a folder of this machine named after it."""
    if isinstance(folder, Path):
        return folder
    return default_cache_path().parent / "runs" / stable_hash(str(folder))[:16]


def run_recipe(recipe: Recipe, args: argparse.Namespace) -> int:
    """Run ``recipe`` with the run options in ``args`` (here, or its shards on Ray then the
    merge here); print the summary."""
    if args.limit is not None and args.limit < 1:
        raise SynthaugError("--limit: must be at least 1")
    if getattr(args, "executor", "local") == "ray":
        from .ray_executor import run_shards_on_ray

        if stopped := run_shards_on_ray(recipe, args):
            return _stopped(stopped)
        args.merge = True
    result = execute(recipe, args, getattr(args, "shard", None), getattr(args, "merge", False))
    print(result.render())
    return _stopped(result.stopped) if result.stopped else 0


def _stopped(why: str) -> int:
    print(
        f"synthaug: {why}: the run stopped and kept its work; run the same command with a "
        "larger --max-cost/--max-tokens (or without) to continue",
        file=sys.stderr,
    )
    return BUDGET_EXIT


def output_path(recipe: Recipe, args: argparse.Namespace) -> Path:
    """The run's output file: ``--out``, else the recipe's ``output``."""
    out = args.out or Path(recipe.output or f"runs/{recipe.name}/data.jsonl")
    if out.is_dir():
        raise SynthaugError(f"{out}: is a directory; give a file name such as {out}/data.jsonl")
    return out


def execute(
    recipe: Recipe, args: argparse.Namespace, shard: Shard | None = None, merge: bool = False
) -> RunResult:
    """Run ``recipe`` in this process: whole, one ``shard`` or the ``merge`` of all shards."""
    pipeline = build_pipeline(recipe)
    out = output_path(recipe, args)
    resources = resources_from_args(
        args,
        llm=recipe.backend if pipeline.uses_llm else None,
        backends={name: recipe.backends[name] for name in pipeline.backend_names},
    )
    run_dir = run_folder(args, out)
    own_dir = shard.folder(run_dir) if shard else run_dir  # shards run side by side
    state = local_state(own_dir)
    for client in resources.clients:  # e.g. where a batch backend records its batches
        client.backend.bind_run_dir(state)
    with held_lock(state / "lock", out):
        return asyncio.run(
            pipeline.run(
                out=out,
                run_dir=run_dir,
                resources=resources,
                limit=args.limit,
                progress=not args.quiet,
                provenance=provenance(recipe, args),
                shard=shard,
                merge=merge,
            )
        )


def provenance(recipe: Recipe, args: argparse.Namespace) -> dict[str, Any]:
    """How to make the run again: the command as typed and the recipe it resolved to (overrides
    applied), with the synthaug version."""
    from .. import __version__

    argv = getattr(args, "argv", None)  # set by ``synthaug.cli.main``
    return {
        "command": shlex.join(["synthaug", *redacted(argv, args)]) if argv is not None else None,
        "recipe": recipe.model_dump(mode="json"),
        "synthaug": __version__,
    }


def redacted(argv: list[str], args: argparse.Namespace) -> list[str]:
    """``argv`` with each ``--storage-option``'s value and a ``--run-dir`` URL's user info
    hidden (however the options were spelt)."""
    hidden = {
        item: item.partition("=")[0] + "=***" for item in getattr(args, "storage_options", [])
    }
    if getattr(args, "run_dir", None):
        hidden[args.run_dir] = redact(args.run_dir)
    words = []
    for word in argv:
        for secret, shown in hidden.items():
            if word == secret or word.endswith("=" + secret):
                word = word.removesuffix(secret) + shown
        words.append(word)
    return words
