"""Questions about a chart whose answers are computed from its data table.

The kinds follow ChartLlama (Han et al., 2023) and Multimodal Self-Instruct (Zhang et al.,
2024): ``value`` (read one value), ``extreme`` (which category is highest or lowest),
``compare`` (is one value larger than another), ``trend`` (up or down from the first
category to the last; ordered axes only), ``sum`` and ``difference`` (arithmetic over a
series), ``table`` (chart-to-table: the whole table as Markdown) and ``summary`` (a
description of the chart's main facts). A question is ``(kind, args)``; ``question_text``
and ``answer`` are pure functions of the table and the question, so ``synthaug verify``
recomputes both from the stored table.
"""

from __future__ import annotations

import random
from typing import Any

from .charts import DIGITS, ORDERED_TYPES

KINDS = ("value", "extreme", "compare", "trend", "sum", "difference", "table", "summary")


def number(value: float) -> str:
    """A value as the answers write it: at most ``DIGITS`` decimals, no trailing zeros."""
    text = f"{round(value, DIGITS):.{DIGITS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _series(table: dict[str, Any], name: str) -> list[float]:
    for series in table["series"]:
        if series["name"] == name:
            return series["values"]
    raise KeyError(f"no series {name!r} in the table")


def _value(table: dict[str, Any], name: str, category: str) -> float:
    return _series(table, name)[table["categories"].index(category)]


def applicable(table: dict[str, Any], chart_type: str) -> list[str]:
    """The kinds that make sense for ``table`` drawn as ``chart_type``."""
    kinds = list(KINDS)
    if chart_type not in ORDERED_TYPES:
        kinds.remove("trend")
    if len(table["categories"]) < 2:
        kinds = [k for k in kinds if k not in ("extreme", "compare", "difference")]
    return kinds


def sample(table: dict[str, Any], chart_type: str, kinds: list[str], seed: int) -> list[dict]:
    """One question per kind in ``kinds`` that applies (``{"kind", "args"}``), arguments drawn
    with ``seed``; a kind whose drawn question has no single answer (a tie) is left out."""
    rng = random.Random(seed)
    names = [s["name"] for s in table["series"]]
    categories = table["categories"]
    questions = []
    for kind in (k for k in kinds if k in applicable(table, chart_type)):
        name = rng.choice(names)
        if kind in ("value",):
            args = {"series": name, "category": rng.choice(categories)}
        elif kind == "extreme":
            args = {"series": name, "which": rng.choice(["highest", "lowest"])}
        elif kind in ("compare", "difference"):
            first, second = rng.sample(categories, 2)
            args = {"series": name, "first": first, "second": second}
        elif kind in ("trend", "sum"):
            args = {"series": name}
        else:
            args = {}
        if answer(table, kind, args) is not None:
            questions.append({"kind": kind, "args": args})
    return questions


def question_text(table: dict[str, Any], kind: str, args: dict[str, Any]) -> str:
    name, y = args.get("series"), table["y_label"]
    about = f" for {name}" if len(table["series"]) > 1 else ""
    match kind:
        case "value":
            return f"What is the {y}{about} at {args['category']}?"
        case "extreme":
            return f"Which {table['x_label']} has the {args['which']} {y}{about}?"
        case "compare":
            return f"Is the {y}{about} at {args['first']} greater than at {args['second']}?"
        case "trend":
            first, last = table["categories"][0], table["categories"][-1]
            return (f"Does the {y}{about} increase or decrease from {first} to {last}? "
                    "Answer 'increase', 'decrease' or 'no change'.")  # fmt: skip
        case "sum":
            return f"What is the total {y}{about} over all {table['x_label']} values shown?"
        case "difference":
            return (f"What is the difference in {y}{about} between {args['first']} and "
                    f"{args['second']} (first minus second)?")  # fmt: skip
        case "table":
            return "Convert the chart into a data table in Markdown."
        case "summary":
            return "Summarise what the chart shows."
    raise ValueError(f"unknown question kind {kind!r}")


def markdown_table(table: dict[str, Any]) -> str:
    header = [table["x_label"], *(s["name"] for s in table["series"])]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for i, category in enumerate(table["categories"]):
        cells = [category, *(number(s["values"][i]) for s in table["series"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summary(table: dict[str, Any]) -> str:
    parts = [f"The chart \"{table['title']}\" shows {table['y_label']} by {table['x_label']} "
             f"for {len(table['categories'])} values ({', '.join(table['categories'])})."]  # fmt: skip
    for s in table["series"]:
        values = s["values"]
        top, low = values.index(max(values)), values.index(min(values))
        parts.append(
            f"{s['name']} is highest at {table['categories'][top]} ({number(values[top])}) "
            f"and lowest at {table['categories'][low]} ({number(values[low])}), "
            f"with a total of {number(sum(values))}."
        )
    return " ".join(parts)


def answer(table: dict[str, Any], kind: str, args: dict[str, Any]) -> str | None:
    """The answer computed from ``table``; None when the question has no single answer."""
    match kind:
        case "value":
            return number(_value(table, args["series"], args["category"]))
        case "extreme":
            values = _series(table, args["series"])
            best = max(values) if args["which"] == "highest" else min(values)
            hits = [c for c, v in zip(table["categories"], values, strict=True) if v == best]
            return hits[0] if len(hits) == 1 else None
        case "compare":
            first = _value(table, args["series"], args["first"])
            second = _value(table, args["series"], args["second"])
            return None if first == second else ("Yes" if first > second else "No")
        case "trend":
            values = _series(table, args["series"])
            change = round(values[-1] - values[0], DIGITS)
            return "increase" if change > 0 else "decrease" if change < 0 else "no change"
        case "sum":
            return number(sum(_series(table, args["series"])))
        case "difference":
            first = _value(table, args["series"], args["first"])
            return number(first - _value(table, args["series"], args["second"]))
        case "table":
            return markdown_table(table)
        case "summary":
            return _summary(table)
    raise ValueError(f"unknown question kind {kind!r}")
