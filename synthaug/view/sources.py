"""Random access to the rows of a large file without loading it: JSONL by a byte-offset index,
Parquet by row groups.

A :class:`JsonlSource` streams the file once at start and keeps the byte offset where each
non-blank line starts (a NumPy ``int64`` array: 8 bytes a row, nothing written to disk); a
page is then one ``pread`` of its lines. A :class:`ParquetSource` reads only the row groups a
page or a scan touches, as pyarrow tables. Both hand out rows as JSON text (bytes); a scan
gets them in large blocks with the offsets where each row starts, so the viewer's filters can
search a whole block at once before they decode any row.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..io.readers import JSON_COLUMNS_KEY

CHUNK = 4 << 20  # bytes read at a time while indexing
BLOCK = 4 << 20  # bytes of rows a scan reads at a time
BLANK = frozenset(b" \t\r\n")


@dataclass(frozen=True)
class Block:
    """Rows ``first`` on, as JSON texts back to back: row ``first + i`` is
    ``data[edges[i]:edges[i + 1]]``."""

    first: int
    data: bytes
    edges: np.ndarray

    def __len__(self) -> int:
        return len(self.edges) - 1

    def row(self, i: int) -> bytes:
        return self.data[int(self.edges[i]) : int(self.edges[i + 1])]

    def rows(self) -> Iterator[tuple[int, bytes]]:
        edges = self.edges.tolist()
        for i, (a, b) in enumerate(pairwise(edges)):
            yield self.first + i, self.data[a:b]


class Source(Protocol):
    path: Path
    build_s: float  # seconds spent indexing at start

    def __len__(self) -> int: ...

    def texts(self, start: int, stop: int) -> list[bytes]:
        """The JSON text of rows ``start`` to ``stop`` (excluded)."""
        ...

    def blocks(self, start: int) -> Iterator[Block]:
        """The rows from ``start`` to the end, in large blocks."""
        ...

    def close(self) -> None: ...


def open_source(path: Path) -> Source:
    """The source for ``path`` by its extension (JSONL or Parquet); InputError otherwise."""
    if not path.exists():
        raise InputError(path, "no such file or directory")
    if path.is_dir():
        raise InputError(path, "is a directory, not a data file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return JsonlSource(path)
    if suffix == ".parquet":
        return ParquetSource(path)
    raise InputError(path, f"view reads .jsonl or .parquet files, not '{suffix or path.name}'")


class JsonlSource:
    """The non-blank lines of a JSONL file, by a byte-offset index built in one pass."""

    def __init__(self, path: Path):
        self.path = path
        began = time.perf_counter()
        self.starts = line_starts(path)  # row i is bytes starts[i]:starts[i + 1]
        self.build_s = time.perf_counter() - began
        self._fd = os.open(path, os.O_RDONLY)  # pread: thread-safe, no shared position

    def __len__(self) -> int:
        return len(self.starts) - 1

    def texts(self, start: int, stop: int) -> list[bytes]:
        stop = min(stop, len(self))
        if start >= stop:
            return []
        base = int(self.starts[start])
        block = os.pread(self._fd, int(self.starts[stop]) - base, base)
        edges = (self.starts[start : stop + 1] - base).tolist()
        return [block[a:b] for a, b in pairwise(edges)]

    def blocks(self, start: int) -> Iterator[Block]:
        row = start
        while row < len(self):
            limit = int(self.starts[row]) + BLOCK
            stop = max(row + 1, int(np.searchsorted(self.starts, limit, side="right")) - 1)
            stop = min(stop, len(self))
            base = int(self.starts[row])
            data = os.pread(self._fd, int(self.starts[stop]) - base, base)
            yield Block(row, data, self.starts[row : stop + 1] - base)
            row = stop

    def close(self) -> None:
        os.close(self._fd)


def line_starts(path: Path) -> np.ndarray:
    """Where each non-blank line of ``path`` starts, then the file's size (n + 1 offsets)."""
    size = path.stat().st_size
    parts, read = [np.zeros(1, dtype=np.int64)], 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
                parts.append(ends.astype(np.int64) + (read + 1))
                read += len(chunk)
    except OSError as error:
        raise InputError(path, f"cannot read file ({error.strerror})") from None
    starts = np.concatenate(parts)
    if starts[-1] != size:
        starts = np.append(starts, size)
    return _drop_blank(path, starts)


def _drop_blank(path: Path, bounds: np.ndarray) -> np.ndarray:
    """``bounds`` (line starts, then the end) without the lines that hold only whitespace.
    Only short lines can be blank in practice; those are read and checked."""
    lengths = np.diff(bounds)
    short = np.flatnonzero(lengths <= 8)
    if not len(short):
        return bounds
    blank = np.zeros(len(lengths), dtype=bool)
    with open(path, "rb") as handle:
        for line in short.tolist():
            handle.seek(int(bounds[line]))
            blank[line] = set(handle.read(int(lengths[line]))) <= BLANK
    if not blank.any():
        return bounds
    # a blank line's bytes join the row before it (json.loads ignores the whitespace); blank
    # lines at the top belong to no row
    return bounds[np.append(~blank, True)]


class ParquetSource:
    """The rows of a Parquet file, read a row group at a time (the last two kept)."""

    def __init__(self, path: Path):
        self.path = path
        began = time.perf_counter()
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError, ValueError) as error:
            detail = " ".join(str(error).split())[:160]
            raise InputError(path, f"not a valid Parquet file ({detail})") from None
        metadata = self._file.schema_arrow.metadata or {}
        self.json_columns = set(json.loads(metadata.get(JSON_COLUMNS_KEY, b"[]")))
        sizes = [
            self._file.metadata.row_group(i).num_rows for i in range(self._file.num_row_groups)
        ]
        self.bounds = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.build_s = time.perf_counter() - began
        self._lock = threading.Lock()  # one reader of the file at a time
        self._groups: dict[int, pa.Table] = {}

    def __len__(self) -> int:
        return int(self.bounds[-1])

    def texts(self, start: int, stop: int) -> list[bytes]:
        out: list[bytes] = []
        row = start
        while row < min(stop, len(self)):
            group = int(np.searchsorted(self.bounds, row, side="right")) - 1
            first, last = int(self.bounds[group]), int(self.bounds[group + 1])
            table = self._group(group).slice(row - first, min(stop, last) - row)
            out += [self._text(r) for r in table.to_pylist()]
            row = min(stop, last)
        return out

    def blocks(self, start: int) -> Iterator[Block]:
        with self._lock:
            reader = pq.ParquetFile(self.path)  # a scan of its own, beside the page reads
        first = max(int(np.searchsorted(self.bounds, start, side="right")) - 1, 0)
        row = int(self.bounds[first])
        for group in range(first, reader.num_row_groups):
            for batch in reader.iter_batches(row_groups=[group], batch_size=4096):
                skip = max(start - row, 0)
                texts = [self._text(r) for r in batch.slice(skip).to_pylist()]
                if texts:
                    edges = np.cumsum([0, *map(len, texts)], dtype=np.int64)
                    yield Block(row + skip, b"".join(texts), edges)
                row += batch.num_rows

    def close(self) -> None:
        self._file.close()

    def _group(self, group: int) -> pa.Table:
        with self._lock:
            if group not in self._groups:
                while len(self._groups) >= 2:
                    self._groups.pop(next(iter(self._groups)))
                self._groups[group] = self._file.read_row_group(group)
            return self._groups[group]

    def _text(self, record: dict[str, Any]) -> bytes:
        for name in self.json_columns & record.keys():
            if isinstance(record[name], str):
                record[name] = json.loads(record[name])
        return json.dumps(record, ensure_ascii=False, default=str).encode()
