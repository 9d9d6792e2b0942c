"""What the review app reads from DATA: the rows, which of them are queued, the label set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, SynthaugError
from ..io.readers import read_numbered


@dataclass
class ReviewData:
    rows: list[dict[str, Any]]
    queued: list[bool]
    labels: list[str]


def load_data(path: Path, text_column: str, labels: list[str] | None, dialogue: bool) -> ReviewData:
    """Read DATA; every row needs a string ``text_column`` (or ``scenario`` in dialogue mode).

    The queue is the rows with ``allocated_to == "human"`` when that column exists, else all
    rows. Labels: ``labels`` if given, else the distinct ``label`` values and ``label_votes``
    keys (sorted); label mode needs at least one.
    """
    rows, lines = [], []
    for line, row in read_numbered(path):
        rows.append(row)
        lines.append(line)
    if not rows:
        raise InputError(path, "no rows to review")
    for line, row in zip(lines, rows, strict=True):
        column = "scenario" if dialogue and "scenario" in row else text_column
        if not isinstance(row.get(column), str) or not row[column].strip():
            raise InputError(path, "missing or empty text (see --text-column)", line, column)
    allocated = any("allocated_to" in row for row in rows)
    queued = [row.get("allocated_to") == "human" if allocated else True for row in rows]
    if labels is None:
        found: set[str] = set()
        for row in rows:
            if isinstance(row.get("label"), str):
                found.add(row["label"])
            if isinstance(row.get("label_votes"), dict):
                found.update(str(key) for key in row["label_votes"])
        labels = sorted(found)
    if not labels and not dialogue:
        raise SynthaugError(f"{path}: no labels found (no 'label' or 'label_votes'): pass --labels")
    return ReviewData(rows, queued, labels)


def parse_labels(text: str | None) -> list[str] | None:
    """``--labels a,b,c`` as a list (None when not given); an error when it names none."""
    if text is None:
        return None
    labels = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not labels:
        raise SynthaugError("--labels: give comma-separated label names")
    return labels
