"""Win-rate matrices from pairwise judgements (the head-to-head tables of RLAIF, Lee et al.,
2023, arXiv 2309.00267, and of Stiennon et al., 2020, arXiv 2009.01325), plus the mean
pointwise judge score per model (Self-Rewarding, Yuan et al., 2024).

``win_rate_matrix(records, by="model")`` reads each record's ``comparisons`` (written by
``judge.pairwise``), or the one ``comparison`` of a ``pairwise.pairs`` record (the pairs
file holds the decided comparisons, its errors file the ties and inconsistent ones), and
groups the completions by ``by`` (``model``, ``backend``, ``temperature`` or ``principle``;
each comparison also names them as ``model_a``, ``model_b``, ...). Per pair of groups (``first`` < ``second``, by name):
wins, losses and ties of ``first``, ``inconsistent`` (the two orders disagreed: excluded from
the rate but counted) and ``win_rate`` = (wins + ties / 2) / (wins + losses + ties). A group
compared with itself (one model's completions against each other) counts the first-listed
completion's results. Completions carrying a numeric ``score`` (``judge.pointwise``) give
each group's ``mean_score``.

``synthaug winrates FILE [FILE ...] [--by model] [--json]`` prints the matrix (row's win rate against
column) and the counts; a missing or unreadable file, or one with neither comparisons nor
scores, is a one-line error (exit code 2).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from statistics import mean
from typing import Any

from ...commands import command
from ...errors import InputError
from ...io import read_records

GROUPINGS = ("model", "backend", "temperature", "principle")


def group_of(completion: dict[str, Any] | None, by: str, fallback: Any = None) -> str:
    """The group name of a completion (``?`` when it lacks the field)."""
    value = (completion or {}).get(by, fallback)
    return "?" if value is None else str(value)


def win_rate_matrix(records: Iterable[dict[str, Any]], by: str = "model") -> dict[str, Any]:
    """Per group pair wins/losses/ties/inconsistent and win rate; per group mean score."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"wins": 0, "losses": 0, "ties": 0, "inconsistent": 0}
    )
    scores: dict[str, list[float]] = defaultdict(list)
    completions_seen: dict[str, int] = defaultdict(int)
    n_records = n_comparisons = 0
    for record in records:
        n_records += 1
        completions = record.get("completions") or []
        for completion in completions:
            group = group_of(completion, by)
            completions_seen[group] += 1
            score = completion.get("score")
            if isinstance(score, int | float) and not isinstance(score, bool):
                scores[group].append(float(score))
        for compared in comparisons_of(record):
            n_comparisons += 1
            a, b = compared["a"], compared["b"]
            first = group_of(_at(completions, a), by, compared.get(f"{by}_a"))
            second = group_of(_at(completions, b), by, compared.get(f"{by}_b"))
            winner = compared["winner"]
            if first > second:
                first, second = second, first
                winner = {"a": "b", "b": "a"}.get(winner, winner)
            cell = counts[(first, second)]
            key = {"a": "wins", "b": "losses", "tie": "ties"}.get(winner, "inconsistent")
            cell[key] += 1
    pairs = [
        {"first": first, "second": second, **cell, "win_rate": _rate(cell)}
        for (first, second), cell in sorted(counts.items())
    ]
    groups = sorted(set(completions_seen) | {g for pair in counts for g in pair})
    return {
        "by": by,
        "records": n_records,
        "comparisons": n_comparisons,
        "groups": {
            g: {
                "completions": completions_seen.get(g, 0),
                "scored": len(scores.get(g, [])),
                "mean_score": round(mean(scores[g]), 4) if scores.get(g) else None,
            }
            for g in groups
        },
        "pairs": pairs,
    }


def comparisons_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A judged row's ``comparisons``, or the one ``comparison`` of a pair record."""
    single = record.get("comparison")
    return record.get("comparisons") or ([single] if isinstance(single, dict) else [])


def _at(completions: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    return completions[index] if 0 <= index < len(completions) else None


def _rate(cell: dict[str, int]) -> float | None:
    decided = cell["wins"] + cell["losses"] + cell["ties"]
    return round((cell["wins"] + cell["ties"] / 2) / decided, 4) if decided else None


def render_table(report: dict[str, Any]) -> str:
    """The report as text: a matrix of win rates (row against column), then the counts."""
    groups = list(report["groups"])
    rate: dict[tuple[str, str], float | None] = {}
    for pair in report["pairs"]:
        r = pair["win_rate"]
        rate[(pair["first"], pair["second"])] = r
        rate[(pair["second"], pair["first"])] = None if r is None else round(1 - r, 4)
    width = max([len(g) for g in groups] + [6])
    lines = [
        f"{report['records']} records, {report['comparisons']} comparisons, by {report['by']}",
        "",
        "win rate of row vs column (ties count half):",
        " " * width + "  " + "  ".join(f"{g:>{width}}" for g in groups),
    ]
    for row in groups:
        cells = []
        for column in groups:
            value = rate.get((row, column))
            cells.append(f"{'-' if value is None else f'{value:.3f}':>{width}}")
        lines.append(f"{row:<{width}}  " + "  ".join(cells))
    lines += ["", "pairs (wins/losses/ties of the first, inconsistent excluded):"]
    for p in report["pairs"]:
        lines.append(
            f"  {p['first']} vs {p['second']}: {p['wins']}/{p['losses']}/{p['ties']}, "
            f"{p['inconsistent']} inconsistent"
        )
    lines += ["", "mean pointwise score:"]
    for group, info in report["groups"].items():
        shown = "-" if info["mean_score"] is None else f"{info['mean_score']:.3f}"
        lines.append(f"  {group}: {shown} ({info['scored']} of {info['completions']} scored)")
    return "\n".join(lines)


def cmd_winrates(args: Any) -> int:
    records = (record for path in args.files for record in read_records(path))
    report = win_rate_matrix(records, by=args.by)
    if not report["comparisons"] and not any(g["scored"] for g in report["groups"].values()):
        where = ", ".join(args.files)
        raise InputError(where, "no record has 'comparisons' or scored 'completions'")
    print(json.dumps(report, indent=2) if args.json else render_table(report))
    return 0


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "winrates",
        help="win-rate matrix of pairwise judgements (and mean judge scores) of a data file",
        description="Read records with 'comparisons' (judge.pairwise), a 'comparison' "
        "(pairwise.pairs: give the pairs file and its .errors.jsonl, which holds the ties and "
        "inconsistent verdicts) and/or scored 'completions' (judge.pointwise); print per pair "
        "of models wins, losses, ties, inconsistent verdicts and the win rate (ties count "
        "half), and each model's mean score.",
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="data files of judge.pairwise, pairwise.pairs "
        "(with its errors file) or judge.pointwise",
    )
    parser.add_argument(
        "--by", choices=GROUPINGS, default="model", help="what to group completions by (model)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=cmd_winrates)
