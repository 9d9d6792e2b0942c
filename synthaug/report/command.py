"""``synthaug report FILE [-o report.html]``: a self-contained HTML report of a data file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..commands import EPILOG, command
from ..io.writers import write_text_atomic
from .html import render_report
from .profile import profile


@command
def add_command(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="an HTML report of a run output or curated file: funnel, errors, plots, lineage",
        description="Write one self-contained HTML page (no network) about a data file: the "
        "run's step funnel and model use (from its .summary.json), error kinds with examples, "
        "verification pass rates with failing examples, length and diversity of text columns, "
        "distributions of labels and scores, preference pairs (counts, ties, lengths and "
        "score margins of chosen vs rejected, sample pairs side by side), the lineage of "
        "sample records (from the run's checkpoints) and sample records. Every row is counted; "
        "distributions come from a sample of large files, and the page says so.",
        epilog=EPILOG,
    )
    report.add_argument("file", type=Path, help="a run output or any data file")
    report.add_argument(
        "-o", "--out", type=Path, help="the HTML file (default: FILE with .report.html)"
    )
    report.add_argument(
        "--sample", type=int, default=20_000, metavar="N", help="rows sampled for distributions"
    )
    report.add_argument("--quiet", action="store_true", help="no progress display")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    out = args.out or args.file.with_suffix(".report.html")
    found = profile(args.file, sample_size=max(1, args.sample), progress=not args.quiet)
    write_text_atomic(out, render_report(found))
    print(f"report: {out} ({found.rows} rows)")
    return 0
