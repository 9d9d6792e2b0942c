"""Small charts as inline SVG (matplotlib's Agg-free SVG backend; text kept as text)."""

from __future__ import annotations

import io
from collections import Counter

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # after choosing the backend

plt.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: small, searchable, no font files
        "svg.hashsalt": "synthaug",  # stable element ids: the same data gives the same file
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)
COLOR = "#3b6ea5"
COLORS = (COLOR, "#c0504d")  # overlaid series: first, second
SIZE = (5.2, 2.4)


def histogram(values: list[float], xlabel: str, bins: int = 30) -> str:
    """A histogram of ``values``."""
    figure, axes = plt.subplots(figsize=SIZE)
    axes.hist(values, bins=min(bins, max(1, len(set(values)))), color=COLOR)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("rows")
    return _svg(figure)


def overlaid(series: dict[str, list[float]], xlabel: str, bins: int = 30) -> str:
    """Histograms of each named series on the same bins, see-through, with a legend."""
    values = [v for data in series.values() for v in data]
    edges = min(bins, max(1, len(set(values))))
    figure, axes = plt.subplots(figsize=SIZE)
    spread = (min(values), max(values)) if values else None
    for (name, data), color in zip(series.items(), COLORS, strict=False):
        axes.hist(data, bins=edges, range=spread, color=color, alpha=0.55, label=name)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("rows")
    axes.legend(frameon=False)
    return _svg(figure)


def bars(counts: Counter[str] | dict[str, int], xlabel: str, most: int = 20) -> str:
    """Horizontal bars, top to bottom: a Counter's ``most`` largest, a dict's in its order."""
    chosen = counts.most_common(most) if isinstance(counts, Counter) else list(counts.items())
    items = chosen[::-1]  # barh draws the first item at the bottom
    figure, axes = plt.subplots(figsize=(SIZE[0], 0.5 + 0.28 * len(items)))
    axes.barh([_cut(label) for label, _ in items], [count for _, count in items], color=COLOR)
    axes.set_xlabel(xlabel)
    return _svg(figure)


def _cut(label: str, width: int = 32) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _svg(figure: plt.Figure) -> str:
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or doctype
