"""``synthaug inspect FILE``: rows, columns, a sample and a summary of ``_meta``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..io.inspect import describe, render
from . import EPILOG, command


@command
def add_command(commands: Any) -> None:
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


def cmd_inspect(args: argparse.Namespace) -> int:
    info = describe(args.file, sample=args.sample)
    print(json.dumps(info, indent=2, ensure_ascii=False) if args.json else render(info))
    return 0
