"""Streaming readers for JSONL, JSON, CSV, Parquet and Hugging Face ``datasets`` folders.

Every problem with the input raises :class:`~synthaug.errors.InputError` with a one-line
message naming the file and, where there is one, the line: for Parquet and ``datasets``
folders the "line" is the 1-based row number.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError

FORMATS = ("jsonl", "json", "csv", "parquet", "hf")
SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}
JSON_COLUMNS_KEY = b"synthaug.json_columns"
"""Parquet schema metadata: the columns :class:`AtomicWriter` stored as JSON strings."""

_BATCH_ROWS = 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}

Record = dict[str, Any]


def resolve_format(path: str | os.PathLike[str], fmt: str = "auto") -> str:
    """The format of ``path`` (one of :data:`FORMATS`), from ``fmt`` or the file itself."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or directory")
    if fmt != "auto":
        if fmt not in FORMATS:
            raise InputError(path, f"unknown format '{fmt}': use {', '.join(FORMATS)} or auto")
        return fmt
    if path.is_dir():
        if _is_hf_folder(path):
            return "hf"
        raise InputError(path, "is a directory, not a data file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        shown = f"'{suffix}'" if suffix else "(no extension)"
        raise InputError(
            path, f"unknown format {shown}: use .jsonl, .json, .csv, .parquet or a datasets folder"
        )
    return SUFFIXES[suffix]


def read_records(
    path: str | os.PathLike[str], *, fmt: str = "auto", required: Sequence[str] = ()
) -> Iterator[Record]:
    """Stream the records of ``path``; each must carry the ``required`` fields (non-null).

    Formats: JSONL (blank lines skipped), JSON (a top-level array of objects; the whole
    file is read into memory, records are then decoded one at a time), CSV (header row
    required; all values are strings; a short row lacks its missing columns), Parquet and
    a ``datasets`` folder made by ``save_to_disk`` (a DatasetDict yields its ``train`` split,
    or its first). The path and format are checked at once; the rest as records are read.
    """
    return _with_required(Path(path), read_numbered(path, fmt=fmt), tuple(required))


def read_numbered(
    path: str | os.PathLike[str], *, fmt: str = "auto"
) -> Iterator[tuple[int, Record]]:
    """``(line, record)`` for each record of ``path`` (the line its error would name)."""
    path = Path(path)
    fmt = resolve_format(path, fmt)
    if fmt != "hf":
        _check_file(path)
    return _READERS[fmt](path)


def count_records(path: str | os.PathLike[str], fmt: str = "auto") -> int | None:
    """The number of records where that is cheap (JSONL, Parquet, datasets); else None."""
    path = Path(path)
    fmt = resolve_format(path, fmt)
    if fmt == "jsonl":
        _check_file(path)
        with _open(path) as handle:
            return sum(1 for raw in handle if raw.strip())
    if fmt == "parquet":
        _check_file(path)
        with _arrow_errors(path, "not a valid Parquet file"):
            return pq.ParquetFile(path).metadata.num_rows
    if fmt == "hf":
        return sum(batch.num_rows for file in _hf_files(path) for batch in _arrow_batches(file))
    return None


# -- shared checks ---------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise InputError(path, "is a directory, not a data file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as error:
        raise InputError(path, f"cannot read file ({error.strerror})") from None


def _one_line(text: object, limit: int = 160) -> str:
    """``text`` as one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _type_name(value: Any) -> str:
    return _JSON_TYPES[type(value)]


def _with_required(
    path: Path, records: Iterable[tuple[int, Record]], required: tuple[str, ...]
) -> Iterator[Record]:
    for line, record in records:
        for name in required:
            if name not in record:
                raise InputError(path, "missing required field", line=line, field=name)
            if record[name] is None:
                raise InputError(path, "required field is null", line=line, field=name)
        yield record


def _decode(path: Path, raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        column = error.start - raw.rfind(b"\n", 0, error.start)
        problem = f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {column})"
        raise InputError(path, problem, line=line + raw.count(b"\n", 0, error.start)) from None


def _text_lines(path: Path, handle: BinaryIO) -> Iterator[str]:
    """The decoded lines of ``handle`` (line ends kept, a leading BOM dropped)."""
    for number, raw in enumerate(handle, 1):
        text = _decode(path, raw, number)
        yield text.removeprefix("\ufeff") if number == 1 else text


def _json_problem(error: ValueError | RecursionError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"malformed JSON ({error.msg}, column {error.colno})"
    if isinstance(error, RecursionError):
        return "malformed JSON (nested too deeply)"
    return f"malformed JSON ({_one_line(error)})"


# -- JSONL -----------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> Iterator[tuple[int, Record]]:
    seen = False
    with _open(path) as handle:
        for number, text in enumerate(_text_lines(path, handle), 1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except (ValueError, RecursionError) as error:
                raise InputError(path, _json_problem(error), line=number) from None
            if not isinstance(record, dict):
                problem = f"expected a JSON object, got {_type_name(record)}"
                raise InputError(path, problem, line=number)
            seen = True
            yield number, record
    if not seen:
        raise InputError(path, "file is empty (only blank lines)")


# -- JSON array ------------------------------------------------------------------------------


def _read_json(path: Path) -> Iterator[tuple[int, Record]]:
    with _open(path) as handle:
        text = _decode(path, handle.read(), 1).removeprefix("\ufeff")
    try:
        yield from _json_array(path, text)
    except (ValueError, RecursionError) as error:
        line = error.lineno if isinstance(error, json.JSONDecodeError) else None
        raise InputError(path, _json_problem(error), line=line) from None


def _json_array(path: Path, text: str) -> Iterator[tuple[int, Record]]:
    """Decode the elements of a top-level JSON array one at a time, with their line numbers."""
    decoder = json.JSONDecoder()
    pos = _WHITESPACE.match(text).end()
    if not text.startswith("[", pos):
        if pos == len(text):
            raise InputError(path, "file is empty")
        top, _ = decoder.raw_decode(text, pos)
        raise InputError(path, f"expected a top-level JSON array of objects, got {_type_name(top)}")
    line, counted = 1, 0
    pos = _WHITESPACE.match(text, pos + 1).end()
    if text.startswith("]", pos):
        _expect_end(text, pos + 1)
        return
    while True:
        line, counted = line + text.count("\n", counted, pos), pos
        record, pos = decoder.raw_decode(text, pos)
        if not isinstance(record, dict):
            problem = f"expected an array of objects, got {_type_name(record)}"
            raise InputError(path, problem, line=line)
        yield line, record
        pos = _WHITESPACE.match(text, pos).end()
        if text.startswith("]", pos):
            _expect_end(text, pos + 1)
            return
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = _WHITESPACE.match(text, pos + 1).end()


def _expect_end(text: str, pos: int) -> None:
    pos = _WHITESPACE.match(text, pos).end()
    if pos != len(text):
        raise json.JSONDecodeError("Extra data after the array", text, pos)


# -- CSV -------------------------------------------------------------------------------------


def _read_csv(path: Path) -> Iterator[tuple[int, Record]]:
    with _open(path) as handle:
        reader = csv.reader(_text_lines(path, handle))
        header: list[str] | None = None
        end = 0
        while True:
            start = end + 1
            try:
                row = next(reader, None)
            except csv.Error as error:
                problem = f"malformed CSV ({_one_line(error)})"
                raise InputError(path, problem, line=reader.line_num) from None
            end = reader.line_num
            if row is None:
                break
            if not row:
                continue
            if header is None:
                header = _csv_header(path, row, start)
                continue
            if len(row) > len(header):
                problem = f"row has {len(row)} cells but the header has {len(header)} columns"
                raise InputError(path, problem, line=start)
            yield start, dict(zip(header, row, strict=False))
    if header is None:
        raise InputError(path, "file is empty (only blank lines)")


def _csv_header(path: Path, row: list[str], line: int) -> list[str]:
    seen: set[str] = set()
    for name in row:
        if name in seen:
            raise InputError(path, f"duplicate column '{name}' in the header row", line=line)
        seen.add(name)
    return row


# -- Parquet and Arrow -----------------------------------------------------------------------


@contextmanager
def _arrow_errors(path: Path, problem: str) -> Iterator[None]:
    """Turn pyarrow and OS errors inside the block into an InputError about ``path``."""
    try:
        yield
    except (pa.ArrowException, OSError, ValueError) as error:
        detail = _one_line(getattr(error, "strerror", None) or error)
        raise InputError(path, f"{problem} ({detail})") from None


def _rows(batches: Iterable[pa.RecordBatch], json_columns: set[str]) -> Iterator[Record]:
    for batch in batches:
        for row in batch.to_pylist():
            for name in json_columns & row.keys():
                if row[name] is not None:
                    row[name] = json.loads(row[name])
            yield row


def _read_parquet(path: Path) -> Iterator[tuple[int, Record]]:
    with _arrow_errors(path, "not a valid Parquet file"):
        parquet = pq.ParquetFile(path)
        metadata = parquet.schema_arrow.metadata or {}
        json_columns = set(json.loads(metadata.get(JSON_COLUMNS_KEY, b"[]")))
        batches = parquet.iter_batches(batch_size=_BATCH_ROWS)
        yield from enumerate(_rows(batches, json_columns), 1)


def _is_hf_folder(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as error:
        raise InputError(path, f"cannot read file ({error.strerror})") from None
    except (ValueError, RecursionError) as error:
        line = error.lineno if isinstance(error, json.JSONDecodeError) else None
        raise InputError(path, _json_problem(error), line=line) from None


def _hf_files(folder: Path) -> list[Path]:
    """The Arrow files of a ``save_to_disk`` folder, in the order ``state.json`` lists them."""
    if (folder / "dataset_dict.json").is_file():
        splits = _load_json(folder / "dataset_dict.json")
        splits = splits.get("splits") if isinstance(splits, dict) else None
        if not splits or not isinstance(splits, list):
            raise InputError(folder / "dataset_dict.json", "lists no splits")
        folder = folder / ("train" if "train" in splits else str(splits[0]))
    state_path = folder / "state.json"
    if not state_path.is_file():
        raise InputError(folder, "not a Hugging Face datasets folder (no state.json)")
    state = _load_json(state_path)
    entries = state.get("_data_files") if isinstance(state, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("filename"), str) for entry in entries
    ):
        raise InputError(state_path, "'_data_files' must be a list of {\"filename\": ...}")
    files = [folder / entry["filename"] for entry in entries]
    for file in files:
        if not file.is_file():
            raise InputError(file, "data file listed in state.json is missing")
    return files


def _arrow_batches(file: Path) -> Iterator[pa.RecordBatch]:
    with _arrow_errors(file, "not a valid Arrow stream file"), pa.memory_map(str(file)) as source:
        yield from pa.ipc.open_stream(source)


def _read_hf(folder: Path) -> Iterator[tuple[int, Record]]:
    batches = (batch for file in _hf_files(folder) for batch in _arrow_batches(file))
    yield from enumerate(_rows(batches, set()), 1)


_READERS = {
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": _read_csv,
    "parquet": _read_parquet,
    "hf": _read_hf,
}
