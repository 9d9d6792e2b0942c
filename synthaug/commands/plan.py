"""``synthaug plan RECIPE``: run a sample of a recipe and project the full run's model calls,
tokens, money and wall time, per step and in total (method: ``synthaug.engine.forecast``).

The sample is the first ``--sample`` source rows through the real pipeline, with the same
backend, request cache and options as ``synthaug run``: the real run later replays those
answers from the cache. The sample's records go to a temporary folder, never to the recipe's
output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from ..engine.forecast import project, render_forecast
from ..errors import SynthaugError
from ..recipe import build_pipeline, load_recipe
from ..resources import (
    add_backend_options,
    add_cache_options,
    add_price_option,
    add_sandbox_option,
    backend_overrides,
    resources_from_args,
)
from . import EPILOG, command
from .run import override_option

DEFAULT_SAMPLE = 8


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "plan",
        help="forecast a recipe's model calls, tokens, cost and time from a sample run",
        description="Run the first --sample source rows of a recipe for real (same backend, "
        "cache and options as `synthaug run`; their records go to a temporary folder) and "
        "forecast the full run's model calls, tokens, cost and wall time, per step and in "
        "total. The run later replays the sample from the cache. See docs/costs.md.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "recipe", help="recipe file, or a built-in recipe name (e.g. self_instruct)"
    )
    override_option(parser, "a recipe value, e.g. --set steps[0].params.num_instructions=100")
    parser.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        metavar="N",
        help=f"source rows to run for real (default {DEFAULT_SAMPLE})",
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="forecast `synthaug run --limit N` (N source rows)"
    )
    add_backend_options(parser)
    add_cache_options(parser)
    add_sandbox_option(parser)
    add_price_option(parser)
    parser.add_argument("--json", action="store_true", help="print the forecast as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.set_defaults(handler=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    for option, value in (("--sample", args.sample), ("--limit", args.limit)):
        if value is not None and value < 1:
            raise SynthaugError(f"{option}: must be at least 1")
    recipe = load_recipe(args.recipe, args.overrides + backend_overrides(args))
    pipeline = build_pipeline(recipe)
    resources = resources_from_args(
        args,
        llm=recipe.backend if pipeline.uses_llm else None,
        backends={name: recipe.backends[name] for name in pipeline.backend_names},
    )
    source_rows = pipeline.steps[0].expected_rows()  # type: ignore[attr-defined]
    if args.limit is not None:
        source_rows = min(args.limit, source_rows) if source_rows is not None else args.limit
    with tempfile.TemporaryDirectory(prefix="synthaug-plan-") as folder:
        result = asyncio.run(
            pipeline.run(
                out=Path(folder) / "sample.jsonl",
                run_dir=Path(folder) / "run",
                resources=resources,
                limit=min(args.sample, args.limit or args.sample),
                progress=not (args.quiet or args.json),
            )
        )
    forecast = project(
        recipe=recipe.name,
        backend=result.summary["backend"],
        stats=result.steps,
        source_rows=source_rows,
        spend=resources.spend,
        sample_wall_s=result.summary["wall_s"],
        sample_cached=resources.cache is not None,
    ).to_json()
    print(json.dumps(forecast, indent=2) if args.json else render_forecast(forecast))
    return 0
