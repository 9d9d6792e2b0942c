"""Chart data: a data table and a chart spec, checked and normalised, and drawn with matplotlib.

A **table** is ``{"title", "x_label", "y_label", "categories": [str], "series": [{"name",
"values": [number]}]}`` (every series has one value per category; values are rounded to
``DIGITS`` decimals so answers computed from them are exact). A **spec** is ``{"type",
"palette", "grid", "legend", "value_labels"}``. ``draw`` runs in a child process (see
``synthaug.media.render``): the picture comes from the spec through fixed code, never from
code a model wrote.
"""

from __future__ import annotations

import io
import math
from typing import Any

CHART_TYPES = ("bar", "barh", "stacked_bar", "line", "area", "pie")
ORDERED_TYPES = ("line", "area")  # the categories are an ordered axis: trend questions apply
PALETTES = ("tab10", "Set2", "Dark2", "Paired", "Set1")
LEGENDS = ("best", "upper right", "upper left", "lower right", "lower left")
DIGITS = 2
MAX_LABEL = 40


class ChartError(ValueError):
    """A table or spec that cannot be drawn (the message says why)."""


def chart_types(table: dict[str, Any]) -> list[str]:
    """The chart types that can show ``table``: a pie needs one series of positive values."""
    one_positive = len(table["series"]) == 1 and all(v > 0 for v in table["series"][0]["values"])
    return [t for t in CHART_TYPES if t != "pie" or one_positive]


def _label(value: Any, what: str) -> str:
    if not isinstance(value, str) or not " ".join(value.split()):
        raise ChartError(f"{what} is empty")
    text = " ".join(value.split())
    if len(text) > MAX_LABEL:
        raise ChartError(f"{what} is longer than {MAX_LABEL} characters")
    return text


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ChartError(f"{what} is not a finite number: {value!r}")
    return round(float(value), DIGITS)


def _unique(names: list[str], what: str) -> list[str]:
    seen = {name.casefold() for name in names}
    if len(seen) != len(names):
        raise ChartError(f"the {what} repeat a name: {names}")
    return names


def normalise_table(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` checked (labels non-empty and distinct, one finite value per category in each
    series) with whitespace collapsed and values rounded; ``ChartError`` otherwise."""
    try:
        categories = _unique([_label(c, "a category") for c in raw["categories"]], "categories")
        series = []
        for s in raw["series"]:
            values = [_number(v, f"a value of {s.get('name')!r}") for v in s["values"]]
            if len(values) != len(categories):
                raise ChartError(f"{len(values)} values for {len(categories)} categories")
            series.append({"name": _label(s["name"], "a series name"), "values": values})
        if not series or not categories:
            raise ChartError("no series or no categories")
        _unique([s["name"] for s in series], "series")
        return {
            "title": _label(raw["title"], "the title"),
            "x_label": _label(raw["x_label"], "the x label"),
            "y_label": _label(raw["y_label"], "the y label"),
            "categories": categories,
            "series": series,
        }
    except (KeyError, TypeError) as error:
        raise ChartError(f"not a data table: {error!r}") from None


def check_spec(spec: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with only the known keys, checked against ``table``; ``ChartError`` otherwise."""
    try:
        checked = {
            "type": spec["type"],
            "palette": spec["palette"],
            "grid": bool(spec["grid"]),
            "legend": spec["legend"],
            "value_labels": bool(spec["value_labels"]),
        }
    except (KeyError, TypeError) as error:
        raise ChartError(f"not a chart spec: {error!r}") from None
    if checked["type"] not in chart_types(table):
        raise ChartError(f"chart type {checked['type']!r} cannot show this table")
    if checked["palette"] not in PALETTES or checked["legend"] not in LEGENDS:
        raise ChartError(f"unknown palette or legend place: {spec!r}")
    return checked


def draw(table: dict[str, Any], spec: dict[str, Any]) -> bytes:
    """The chart as PNG bytes (deterministic: fixed size, fonts and no timestamp)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = matplotlib.colormaps[spec["palette"]].colors
    categories, series = table["categories"], table["series"]
    kind = spec["type"]
    figure, axes = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    positions = list(range(len(categories)))
    if kind == "pie":
        values = series[0]["values"]
        axes.pie(values, labels=categories, colors=colours[: len(values)],
                 autopct="%1.1f%%" if spec["value_labels"] else None)  # fmt: skip
        axes.axis("equal")
    else:
        width = 0.8 / (1 if kind == "stacked_bar" else len(series))
        bottom = [0.0] * len(categories)
        for k, s in enumerate(series):
            colour = colours[k % len(colours)]
            if kind == "bar":
                shifted = [p - 0.4 + width * (k + 0.5) for p in positions]
                bars = axes.bar(shifted, s["values"], width, label=s["name"], color=colour)
            elif kind == "barh":
                shifted = [p - 0.4 + width * (k + 0.5) for p in positions]
                bars = axes.barh(shifted, s["values"], width, label=s["name"], color=colour)
            elif kind == "stacked_bar":
                bars = axes.bar(positions, s["values"], width, bottom=bottom, label=s["name"],
                                color=colour)  # fmt: skip
                bottom = [b + v for b, v in zip(bottom, s["values"], strict=True)]
            else:
                bars = None
                axes.plot(positions, s["values"], marker="o", label=s["name"], color=colour)
                if kind == "area":
                    axes.fill_between(positions, s["values"], alpha=0.25, color=colour)
                if spec["value_labels"]:
                    for x, v in zip(positions, s["values"], strict=True):
                        axes.annotate(f"{v:g}", (x, v), textcoords="offset points",
                                      xytext=(0, 5), ha="center", fontsize=8)  # fmt: skip
            if bars is not None and spec["value_labels"]:
                axes.bar_label(bars, fmt="%g", fontsize=8, label_type="center"
                               if kind == "stacked_bar" else "edge")  # fmt: skip
        if kind == "barh":
            axes.set_yticks(positions, categories)
            axes.set_xlabel(table["y_label"])
            axes.set_ylabel(table["x_label"])
        else:
            tilted = {"rotation": 30, "ha": "right"} if len(categories) > 4 else {}
            axes.set_xticks(positions, categories, **tilted)
            axes.set_xlabel(table["x_label"])
            axes.set_ylabel(table["y_label"])
        axes.grid(spec["grid"], alpha=0.3)
        axes.set_axisbelow(True)
        if len(series) > 1:
            axes.legend(loc=spec["legend"])
    axes.set_title(table["title"])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()
