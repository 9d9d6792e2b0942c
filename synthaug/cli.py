"""The ``synthaug`` command line.

    synthaug run RECIPE [--set key=value ...] [--limit N] [--backend ...] [--model ...] [--out PATH]
    synthaug methods            every method with its survey taxonomy class and lifecycle stage
    synthaug inspect FILE       rows, columns, a sample and a summary of ``_meta``
    synthaug dedup | decontaminate IN -o OUT --columns ...   curation (see ``synthaug.curate``)
    synthaug verify FILE        re-check each record's verification from its stored evidence
    synthaug export FILE --format sft|dpo|orpo|kto|rm -o OUT   trainer-ready files
    synthaug winrates FILE      win-rate matrix of the models in pairwise-judged records

User errors print one line and exit with code 2; an interrupted run exits
with 130 and resumes when the same command is run again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SynthaugError

if TYPE_CHECKING:
    from .recipe import Recipe

EPILOG = "Docs: README.md. Errors in input or recipes exit with code 2."


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SynthaugError as exc:
        print(f"synthaug: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\nsynthaug: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthaug",
        description="Synthesize, augment and curate training data for LLMs.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a recipe (a YAML file or a built-in recipe name)",
        description="Run a recipe. A killed run resumes from its checkpoints and request "
        "cache when started again with the same arguments.",
        epilog=EPILOG,
    )
    run.add_argument("recipe", help="recipe file, or a built-in recipe name (e.g. self_instruct)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set steps[0].params.num_instructions=100",
    )
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
    score.add_argument(
        "--methods", default="alpagasus,deita,ifd", help="comma-separated (all three)"
    )
    score.add_argument("--instruction-column", default="instruction")
    score.add_argument("--input-column", default="input", help="'' when there is none")
    score.add_argument("--output-column", default="output")
    score.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the generated recipe, e.g. --set steps[1].params.threshold=4",
    )
    _run_options(score)
    score.set_defaults(handler=cmd_score)

    methods = commands.add_parser(
        "methods",
        help="list methods with their survey taxonomy class and lifecycle stage",
        description="List every registered method and step.",
        epilog=EPILOG,
    )
    methods.add_argument("--json", action="store_true", help="print JSON")
    methods.set_defaults(handler=cmd_methods)

    inspect = commands.add_parser(
        "inspect",
        help="describe a data file: rows, columns, sample, _meta summary",
        description="Describe a data file (JSONL, JSON, CSV, Parquet, datasets folder).",
        epilog=EPILOG,
    )
    inspect.add_argument("file", help="data file to describe")
    inspect.add_argument("--sample", type=int, default=3, metavar="N", help="records to show")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler=cmd_inspect)

    from .curate.commands import add_commands

    add_commands(commands)
    from .verify.command import add_command as add_verify

    add_verify(commands)
    from .export.command import add_command as add_export

    add_export(commands)
    from .methods.preference.winrates import add_command as add_winrates

    add_winrates(commands)
    from .review.command import add_command as add_review

    add_review(commands)
    from .methods.labeling.metrics import add_command as add_label_report

    add_label_report(commands)
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, metavar="N", help="stop after N source rows")
    parser.add_argument("--backend", choices=["local", "openai"], help="override the backend type")
    parser.add_argument("--model", help="GGUF path (local) or model name (openai)")
    parser.add_argument(
        "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    parser.add_argument("--api-key-env", help="environment variable holding the API key")
    parser.add_argument(
        "--cache", type=Path, help="request cache file (default: ~/.cache/synthaug)"
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def _backend_overrides(args: argparse.Namespace) -> list[str]:
    overrides = []
    for key, value in (
        ("type", args.backend),
        ("model", args.model),
        ("base_url", args.base_url),
        ("api_key_env", args.api_key_env),
    ):
        if value is not None:
            overrides.append(f"backend.{key}={json.dumps(value)}")
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    from .recipe import load_recipe

    return run_recipe(load_recipe(args.recipe, args.overrides + _backend_overrides(args)), args)


def cmd_score(args: argparse.Namespace) -> int:
    from .recipe import recipe_from_dict

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - {"alpagasus", "deita", "ifd"})
    if unknown or not methods:
        raise SynthaugError(
            f"--methods: unknown {', '.join(unknown) or '(none)'}; use alpagasus, deita, ifd"
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
    return run_recipe(recipe_from_dict(raw, args.overrides + _backend_overrides(args)), args)


def run_recipe(recipe: Recipe, args: argparse.Namespace) -> int:
    """Run ``recipe`` with the run options in ``args``; print the summary."""
    from .llm.cache import RequestCache, default_cache_path
    from .llm.client import LLMClient
    from .recipe import build_backend, build_pipeline

    pipeline = build_pipeline(recipe)
    out = args.out or Path(recipe.output or f"runs/{recipe.name}/data.jsonl")
    if out.is_dir():
        raise SynthaugError(f"{out}: is a directory; give a file name such as {out}/data.jsonl")
    if args.limit is not None and args.limit < 1:
        raise SynthaugError("--limit: must be at least 1")
    client, named = None, {}
    if pipeline.uses_llm:  # every client shares the one request cache
        cache = None if args.no_cache else RequestCache(args.cache or default_cache_path())

        def connect(config, where: str) -> LLMClient:
            return LLMClient(build_backend(config, where), cache, max_retries=config.max_retries)

        client = connect(recipe.backend, "backend")
        named = {
            name: connect(recipe.backends[name], f"backends.{name}")
            for name in sorted(pipeline.backend_names)
        }
    run_dir = out.parent / f".{out.stem}.run"
    result = asyncio.run(
        pipeline.run(
            out=out,
            run_dir=run_dir,
            llm=client,
            backends=named,
            limit=args.limit,
            progress=not args.quiet,
        )
    )
    print(result.render())
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from .methods.registry import all_methods

    methods = all_methods()
    if args.json:
        rows = [
            {
                "name": m.name,
                "taxonomy": m.taxonomy,
                "stage": m.stage,
                "paper": m.paper,
                "summary": m.summary,
            }
            for m in methods
        ]
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(m.name) for m in methods)
    for m in methods:
        print(f"{m.name:<{width}}  {m.summary}")
        print(f"{'':<{width}}  taxonomy: {m.taxonomy} | stage: {m.stage} | paper: {m.paper}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .io.inspect import describe, render

    info = describe(args.file, sample=args.sample)
    print(json.dumps(info, indent=2, ensure_ascii=False) if args.json else render(info))
    return 0


def _version() -> str:
    from . import __version__

    return f"synthaug {__version__}"


if __name__ == "__main__":
    sys.exit(main())
