"""``synthaug report FILE [-o report.html]``: a self-contained HTML report of a data file;
``synthaug card FILE [-o README.md]``: its Hugging Face dataset card."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..commands import EPILOG, command
from ..io.writers import write_text_atomic
from .card import CardOptions, check_card_target, relative_path, render_card
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

    card = commands.add_parser(
        "card",
        help="a Hugging Face dataset card (README.md) for a run output or any data file",
        description="Write a dataset card: YAML metadata the Hub reads (license, language, "
        "task_categories, size_categories, configs pointing at the data file, tags...) and "
        "sections from the run's .summary.json: methods with their papers, models and sampling "
        "parameters, seed data with their licences, contamination, deduplication, verification "
        "pass rates, text statistics, known limitations and the command and recipe to "
        "reproduce it. What is not recorded is written as unknown.",
        epilog=EPILOG,
    )
    card.add_argument("file", type=Path, help="a run output or any data file")
    add_card_options(card)
    card.add_argument("-o", "--out", type=Path, help="the card (default: README.md beside FILE)")
    card.add_argument(
        "--force", action="store_true", help="overwrite a README.md not written by synthaug"
    )
    card.set_defaults(handler=cmd_card)


def add_card_options(parser: Any) -> None:
    """The card's metadata options (shared with ``synthaug export --format hf``)."""
    parser.add_argument(
        "--license", default="unknown", help="the data's licence id, e.g. apache-2.0 (unknown)"
    )
    parser.add_argument("--name", help="pretty_name (default: from the recipe or file name)")
    parser.add_argument(
        "--language",
        action="append",
        default=[],
        metavar="CODE",
        help="ISO 639 code, repeatable (default: identified from the text columns)",
    )
    parser.add_argument(
        "--task-category",
        action="append",
        default=[],
        metavar="NAME",
        help="a Hub task category, repeatable (default: from the columns, e.g. text-generation)",
    )
    parser.add_argument("--split", default="train", help="the split the data is (train)")


def card_options(args: argparse.Namespace) -> CardOptions:
    return CardOptions(
        license=args.license,
        pretty_name=args.name,
        language=tuple(args.language),
        task_categories=tuple(args.task_category),
        split=args.split,
    )


def cmd_report(args: argparse.Namespace) -> int:
    out = args.out or args.file.with_suffix(".report.html")
    found = profile(args.file, sample_size=max(1, args.sample), progress=not args.quiet)
    write_text_atomic(out, render_report(found))
    print(f"report: {out} ({found.rows} rows)")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    options = card_options(args)
    out = args.out or args.file.parent / "README.md"
    check_card_target(out, args.force)
    found = profile(args.file)
    write_text_atomic(out, render_card(found, relative_path(args.file, out), options))
    print(f"card: {out} ({found.rows} rows of {args.file})")
    return 0
