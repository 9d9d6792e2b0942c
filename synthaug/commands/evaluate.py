"""``synthaug evaluate``: train the same student on several datasets, compare held-out metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..engine.progress import CountProgress
from ..errors import BackendUnavailable, InputError, SynthaugError
from ..io import read_records
from ..io.writers import write_text_atomic
from ..students import ClassifierStudent
from . import EPILOG, command
from .curation import embedder_of, embedder_options


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="train the same student on datasets A, B, ... and compare held-out metrics",
        description="Train a classification student (sentence embeddings + logistic "
        "regression) on each dataset under the same budget of examples, over several seeds, "
        "and report held-out accuracy and macro-F1 (mean ± std over seeds) with a paired "
        "t-test of each dataset against the first. Training rows whose text is in the test "
        "set are dropped first.",
        epilog=EPILOG,
    )
    parser.add_argument("datasets", nargs="+", type=Path, metavar="DATA", help="training sets")
    parser.add_argument("--test", type=Path, required=True, help="held-out labelled records")
    parser.add_argument("--names", help="comma-separated names (default: the file names)")
    parser.add_argument(
        "--budget", type=int, help="examples per training run (default: the smallest dataset)"
    )
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, at least 3 (5)")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-o", "--out", type=Path, help="also write the JSON report here")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    embedder_options(parser)
    parser.set_defaults(handler=cmd_evaluate)


def load(path: Path, text: str, label: str) -> list[dict[str, Any]]:
    rows = [
        {"text": str(r[text]), "label": str(r[label])}
        for r in read_records(path, required=[text, label])
    ]
    if not rows:
        raise InputError(path, "no records")
    return rows


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.seeds < 3:
        raise SynthaugError(f"--seeds: at least 3 seeds for a spread, got {args.seeds}")
    names = [n.strip() for n in args.names.split(",")] if args.names else []
    names = names or [p.name for p in args.datasets]
    if len(names) != len(args.datasets) or len(set(names)) != len(names):
        raise SynthaugError(f"--names: give {len(args.datasets)} distinct names")
    test = load(args.test, args.text_column, args.label_column)
    held_out = {r["text"] for r in test}
    datasets: dict[str, list[dict[str, Any]]] = {}
    for name, path in zip(names, args.datasets, strict=True):
        rows = [
            r for r in load(path, args.text_column, args.label_column) if r["text"] not in held_out
        ]
        if len({r["label"] for r in rows}) < 2:
            raise InputError(path, "needs at least two labels (after dropping test texts)")
        datasets[name] = rows
    smallest = min(len(rows) for rows in datasets.values())
    budget = args.budget or smallest
    if not 0 < budget <= smallest:
        raise SynthaugError(f"--budget: must be 1-{smallest} (the smallest dataset), got {budget}")
    try:  # scipy comes with scikit-learn; loaded only when the command runs
        from ..students.compare import compare, render
    except ImportError as exc:
        raise BackendUnavailable(
            "synthaug evaluate needs the augment extra: pip install 'synthaug[augment]'"
        ) from exc
    embedder, cache = embedder_of(args, args)
    student = ClassifierStudent(embedder, cache)
    runs = len(datasets) * args.seeds
    progress = (
        None if args.quiet else CountProgress("evaluate", runs, unit="trainings", check_every=1)
    )
    report = compare(student, datasets, test, budget, range(args.seeds), progress)
    if progress:
        progress.draw(final=True)
    if args.out:
        write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
