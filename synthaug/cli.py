"""The ``synthaug`` command line.

    synthaug run RECIPE [--set key=value ...] [--limit N] [--backend ...] [--model ...] [--out PATH]
    synthaug methods            every method with its survey taxonomy class and lifecycle stage
    synthaug inspect FILE       rows, columns, a sample and a summary of ``_meta``
    synthaug dedup | decontaminate IN -o OUT --columns ...   curation (see ``synthaug.curate``)

User errors print one line and exit with code 2; an interrupted run exits
with 130 and resumes when the same command is run again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from .errors import SynthaugError

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
    run.add_argument("--limit", type=int, metavar="N", help="stop after N source rows")
    run.add_argument("--backend", choices=["local", "openai"], help="override the backend type")
    run.add_argument("--model", help="GGUF path (local) or model name (openai)")
    run.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    run.add_argument("--api-key-env", help="environment variable holding the API key")
    run.add_argument("--out", type=Path, help="output file (.jsonl or .parquet)")
    run.add_argument("--cache", type=Path, help="request cache file (default: ~/.cache/synthaug)")
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.set_defaults(handler=cmd_run)

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
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from .llm.cache import RequestCache, default_cache_path
    from .llm.client import LLMClient
    from .recipe import build_backend, build_pipeline, load_recipe

    overrides = list(args.overrides)
    for key, value in (
        ("type", args.backend),
        ("model", args.model),
        ("base_url", args.base_url),
        ("api_key_env", args.api_key_env),
    ):
        if value is not None:
            overrides.append(f"backend.{key}={json.dumps(value)}")
    recipe = load_recipe(args.recipe, overrides)
    pipeline = build_pipeline(recipe)
    out = args.out or Path(recipe.output or f"runs/{recipe.name}/data.jsonl")
    if out.is_dir():
        raise SynthaugError(f"{out}: is a directory; give a file name such as {out}/data.jsonl")
    if args.limit is not None and args.limit < 1:
        raise SynthaugError("--limit: must be at least 1")
    client = None
    if pipeline.uses_llm:
        cache = None if args.no_cache else RequestCache(args.cache or default_cache_path())
        client = LLMClient(
            build_backend(recipe.backend), cache, max_retries=recipe.backend.max_retries
        )
    run_dir = out.parent / f".{out.stem}.run"

    async def go():
        try:
            return await pipeline.run(
                out=out, run_dir=run_dir, llm=client, limit=args.limit, progress=not args.quiet
            )
        finally:
            if client is not None:
                await client.close()

    result = asyncio.run(go())
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
