"""``synthaug cache merge DEST SRC...``: join request caches (e.g. one per Ray worker or node)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..llm.cache import RequestCache
from . import EPILOG, command


@command
def add_commands(commands: Any) -> None:
    cache = commands.add_parser("cache", help="request cache tools: merge", epilog=EPILOG)
    actions = cache.add_subparsers(title="actions", required=True, metavar="ACTION")
    merge = actions.add_parser(
        "merge",
        help="add the entries of other caches to one (first writer wins)",
        description="Add every model answer, embedding and sandbox result of the SRC caches "
        "that DEST lacks (DEST is created when missing), so a rerun anywhere replays them.",
        epilog=EPILOG,
    )
    merge.add_argument("dest", type=Path, help="the cache to add to")
    merge.add_argument("sources", type=Path, nargs="+", metavar="SRC", help="caches to add")
    merge.set_defaults(handler=cmd_merge)


def cmd_merge(args: argparse.Namespace) -> int:
    target = RequestCache(args.dest)
    try:
        for source in args.sources:
            added = target.merge(source)
            print(f"{source}: {added} new answers")
        print(f"{args.dest}: {len(target)} answers")
    finally:
        target.close()
    return 0
