"""Atomic writers: output appears at its path complete, or not at all.

An output that cannot be written (its folder is a file, a read-only or missing
place, a full disk, a directory at the path) is an ``OutputError`` naming the
path: one line from the CLI, never a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError, OutputError
from .readers import JSON_COLUMNS_KEY

WRITE_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class AtomicWriter:
    """Write records to ``path`` through a temp file (``.NAME.tmp-PID``) in the same folder.

    On a clean exit the temp file is flushed, fsynced and renamed onto ``path``; on an
    exception it is deleted, so a half-written file never appears at ``path``.

    Formats: JSONL (one ``json.dumps(record, ensure_ascii=False)`` line per record) and
    Parquet (rows are buffered in memory and written at close, types inferred by pyarrow;
    a column pyarrow cannot store as one type, e.g. ints mixed with strings, or one holding
    empty dicts, is stored as JSON text and listed in the schema metadata so
    :func:`~synthaug.io.read_records` decodes it again). In Parquet a key missing from some
    rows, at the top level or inside a nested dict, reads back as null.
    """

    def __init__(self, path: str | os.PathLike[str], fmt: str = "auto"):
        self.path = Path(path)
        self.fmt = write_format(self.path, fmt)
        self.temp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.count = 0
        self._handle: TextIO | None = None
        self._rows: list[dict[str, Any]] = []

    def __enter__(self) -> AtomicWriter:
        with output_errors(self.path):
            _make_parent(self.path)
            if self.path.is_dir():
                raise IsADirectoryError(21, "is a directory; give a file name")
            if self.fmt == "jsonl":
                self._handle = open(self.temp, "w", encoding="utf-8", newline="\n")
            else:  # fail now, not after all the work: the folder must take a file
                open(self.temp, "wb").close()
        return self

    def write(self, record: dict[str, Any]) -> None:
        """Add one record."""
        if self._handle is not None:
            try:
                self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            except OSError as exc:  # e.g. a full disk
                raise OutputError(self.path, _reason(self.path, exc)) from None
        else:
            self._rows.append(record)
        self.count += 1

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Add every record of ``records``."""
        for record in records:
            self.write(record)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                with output_errors(self.path):
                    self._finish()
        finally:
            if self._handle is not None:
                self._handle.close()
            self._rows = []
            self.temp.unlink(missing_ok=True)  # already renamed after a clean finish

    def _finish(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        else:
            with open(self.temp, "wb") as handle:
                pq.write_table(_table(self._rows), handle)
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(self.temp, self.path)


def write_records(
    path: str | os.PathLike[str], records: Iterable[dict[str, Any]], fmt: str = "auto"
) -> int:
    """Write ``records`` atomically to ``path``; returns how many were written."""
    with AtomicWriter(path, fmt) as writer:
        writer.write_many(records)
    return writer.count


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file (fsynced) and a rename."""
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with output_errors(target):
        _make_parent(target)
        if target.is_dir():
            raise IsADirectoryError(21, "is a directory; give a file name")
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)


@contextmanager
def output_errors(path: Path) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into a one-line ``OutputError``."""
    try:
        yield
    except OSError as exc:
        raise OutputError(path, _reason(path, exc)) from None


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # some folder on the way is a file
        raise NotADirectoryError(20, "not a directory") from None


def _reason(path: Path, exc: OSError) -> str:
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            return f"{parent} is a file, not a folder"
    return exc.strerror or str(exc)


def write_format(path: Path, fmt: str = "auto") -> str:
    """The output format for ``path``; an InputError for one that cannot be written."""
    if fmt in ("jsonl", "parquet"):
        return fmt
    if fmt == "auto" and path.suffix.lower() in WRITE_SUFFIXES:
        return WRITE_SUFFIXES[path.suffix.lower()]
    shown = f"'{fmt}'" if fmt != "auto" else f"'{path.suffix}'" if path.suffix else "(none)"
    raise InputError(path, f"cannot write format {shown}: use .jsonl or .parquet")


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """``rows`` as an Arrow table; columns pyarrow cannot type become JSON text."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns, json_columns = {}, []
    for name in names:
        values = [row.get(name) for row in rows]
        array = _typed_array(values)
        if array is None:
            json_columns.append(name)
            array = pa.array(
                [None if v is None else json.dumps(v, ensure_ascii=False) for v in values],
                pa.string(),
            )
        columns[name] = array
    table = pa.table(columns)
    if json_columns:
        table = table.replace_schema_metadata({JSON_COLUMNS_KEY: json.dumps(json_columns)})
    return table


def _typed_array(values: list[Any]) -> pa.Array | None:
    """``values`` as one typed Arrow array, or None when Parquet cannot hold them so."""
    try:
        array = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None
    return array if _parquet_can_store(array.type) else None


def _parquet_can_store(kind: pa.DataType) -> bool:
    """False for types with an empty struct inside (from ``{}`` values): Parquet rejects them."""
    if pa.types.is_struct(kind):
        return kind.num_fields > 0 and all(_parquet_can_store(f.type) for f in kind)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _parquet_can_store(kind.value_type)
    return True
