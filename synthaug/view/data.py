"""The rows the viewer shows: a file, then the errors file of the run that wrote it, as one
numbered sequence; pages by position, filtered search by capped scans with cursors, facet
counts from one background pass, and a record's detail with its lineage.

A scan reads blocks of rows and searches each block whole for the bytes a match must hold (the
search text, lowercased; the step or error kind as JSON), so only the rows that hold them are
decoded and tested. It stops at ``limit`` matches for the page, then goes on counting until its
time budget is spent; it answers the cursor to continue from and how far it counted, so a file
of millions of rows is never read whole for one request (the page says when a count is
partial).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..report.profile import lineage
from .rows import (
    FACETS,
    MALFORMED,
    NONE,
    field_at,
    images_of,
    pair_of,
    parse,
    summary,
)
from .sources import Block, Source, open_source

MOST_VALUES = 50  # distinct values a facet counts before it stops listing new ones
SCAN_BUDGET_S = 1.0  # seconds a filtered request may scan


@dataclass
class Part:
    name: str  # "data" or "errors"
    source: Source
    first: int  # the index of its first row in the sequence


@dataclass(frozen=True)
class Query:
    """Filters (each a facet value, or None for any) and a full-text search."""

    step: str | None = None
    error: str | None = None
    verdict: str | None = None
    label: str | None = None
    text: str = ""

    @property
    def empty(self) -> bool:
        return not self.text and all(getattr(self, name) is None for name in FACETS)

    def candidates(self, block: Block) -> Iterator[int]:
        """The positions in ``block`` of the rows that hold every byte string a match must
        hold (all rows when the query needs none)."""
        rows: np.ndarray | None = None
        for needles, lowered in self._needles():
            data = block.data.lower() if lowered else block.data
            found = []
            for needle in needles:
                at = data.find(needle)
                while at >= 0:
                    found.append(at)
                    at = data.find(needle, at + len(needle))
            holding = np.unique(np.searchsorted(block.edges, found, side="right") - 1)
            rows = holding if rows is None else np.intersect1d(rows, holding)
        return iter(range(len(block)) if rows is None else rows.tolist())

    def matches(self, raw: bytes) -> dict[str, Any] | None:
        """The record of ``raw`` when it matches, else None."""
        if self.text and not self._found(raw):
            return None
        record = parse(raw)
        if all(FACETS[name](record) == value for name, value in self._wanted().items()):
            return record
        return None

    def _wanted(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FACETS if getattr(self, name) is not None}

    def _needles(self) -> Iterator[tuple[tuple[bytes, ...], bool]]:
        """(byte strings of which a matching row holds one, whether in lowercased text)."""
        needle = self.text.lower()
        if needle and needle.isascii():
            yield (needle.encode(), _escaped(needle)), True
        for name in ("step", "error"):
            if literal := _literal(self._wanted().get(name)):
                yield (literal,), False

    def _found(self, raw: bytes) -> bool:
        needle = self.text.lower()
        if needle.isascii():
            return needle.encode() in raw.lower() or _escaped(needle) in raw.lower()
        return needle in raw.decode(errors="replace").lower()


def _escaped(text: str) -> bytes:
    """``text`` as it appears inside a JSON string (quotes and backslashes escaped)."""
    return json.dumps(text)[1:-1].encode()


def _literal(value: str | None) -> bytes:
    """Bytes a row's text must hold for a step or error kind to be ``value`` (b"": any row)."""
    if value is None or value in (NONE, "malformed_line") or not value.isascii():
        return b""
    return b'"' + _escaped(value) + b'"'


@dataclass
class Facets:
    """Counts of each filter's values over every row, filled by a background pass."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: {n: Counter() for n in FACETS})
    rows: int = 0
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.rows += 1
            for name, value_of in FACETS.items():
                counter, value = self.counts[name], value_of(record)
                if value in counter or len(counter) < MOST_VALUES:
                    counter[value] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "rows": self.rows,
                "done": self.done,
                "counts": {name: dict(c.most_common()) for name, c in self.counts.items()},
            }


class ViewData:
    """``path`` and, beside a run's output, its errors file (``<stem>.errors.jsonl``)."""

    def __init__(self, path: Path):
        self.path = path
        self.parts = [Part("data", open_source(path), 0)]
        errors = path.with_name(f"{path.with_suffix('').name}.errors.jsonl")
        if errors.is_file() and errors != path:
            self.parts.append(Part("errors", open_source(errors), len(self.parts[0].source)))
        if not len(self):
            raise InputError(path, "file is empty")
        for part in self.parts:  # a file that is not JSONL at all fails now, not on a page
            for at in {0, len(part.source) - 1}:
                if at >= 0 and MALFORMED in (record := parse(part.source.texts(at, at + 1)[0])):
                    raise InputError(part.source.path, record[MALFORMED], line=at + 1)
        self.facets = Facets()
        self._stopping = threading.Event()
        self._counting: threading.Thread | None = None

    def __len__(self) -> int:
        return sum(len(part.source) for part in self.parts)

    @property
    def build_s(self) -> float:
        return sum(part.source.build_s for part in self.parts)

    def count_facets(self) -> threading.Thread:
        """Start the background pass that counts the facets."""

        def run() -> None:
            for _, block in self._blocks(0):
                if self._stopping.is_set():
                    return
                for _, raw in block.rows():
                    self.facets.add(parse(raw))
            with self.facets.lock:
                self.facets.done = True

        self._counting = threading.Thread(target=run, name="view-facets", daemon=True)
        self._counting.start()
        return self._counting

    def page(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """The rows ``offset`` to ``offset + limit``, summarized."""
        out: list[dict[str, Any]] = []
        for part in self.parts:
            start = max(offset - part.first, 0)
            stop = min(offset + limit - part.first, len(part.source))
            for i, raw in enumerate(part.source.texts(start, stop), start):
                out.append(summary(part.first + i, part.name, parse(raw)))
        return out

    def find(self, query: Query, cursor: int, limit: int) -> dict[str, Any]:
        """Up to ``limit`` rows matching ``query`` from ``cursor`` on, and the count of matches
        from ``cursor`` to ``counted_to`` (the whole rest when ``done``)."""
        began, rows, matched = time.monotonic(), [], 0
        following, counted_to = None, cursor
        for part, block in self._blocks(cursor):
            for i in query.candidates(block):
                if (record := query.matches(block.row(i))) is None:
                    continue
                matched += 1
                if len(rows) < limit:
                    rows.append(summary(part.first + block.first + i, part.name, record))
                elif following is None:
                    following = part.first + block.first + i
            counted_to = part.first + block.first + len(block)
            if time.monotonic() - began > SCAN_BUDGET_S:
                break
        done = counted_to >= len(self)
        if following is None and not done:
            following = counted_to
        return {
            "rows": rows,
            "matched": matched,
            "counted_to": counted_to,
            "done": done,
            "next": following,
        }

    def record(self, index: int) -> tuple[Part, dict[str, Any]]:
        part = self._part(index)
        local = index - part.first
        return part, parse(part.source.texts(local, local + 1)[0])

    def detail(self, index: int) -> dict[str, Any]:
        """The record at ``index`` with its lineage (from the run's checkpoints), preference
        pair, verification evidence and images (as field paths to fetch)."""
        part, record = self.record(index)
        ancestors = lineage(self.path, [record])[0][1:] if MALFORMED not in record else []
        return {
            **summary(index, part.name, record),
            "file": str(part.source.path),
            "row": index - part.first + 1,
            "record": record,
            "lineage": ancestors,
            "pair": pair_of(record),
            "verification": record.get("verification"),
            "images": [at for at, _ in images_of(record, self.path.parent)],
        }

    def image(self, index: int, at: str) -> str | None:
        """The value of field ``at`` of row ``index`` when it holds an image, else None."""
        _, record = self.record(index)
        value = field_at(record, at)
        found = dict(images_of(record, self.path.parent))
        return value if isinstance(value, str) and found.get(at) == value else None

    def close(self) -> None:
        """Stop the facet pass (at its next block) and close the files."""
        self._stopping.set()
        if self._counting is not None:
            self._counting.join()
        for part in self.parts:
            part.source.close()

    def _part(self, index: int) -> Part:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return [p for p in self.parts if p.first <= index][-1]

    def _blocks(self, start: int) -> Iterator[tuple[Part, Block]]:
        for part in self.parts:
            if start < part.first + len(part.source):
                for block in part.source.blocks(max(start - part.first, 0)):
                    yield part, block
