"""Describe a data file: rows, columns and their types, a sample, and a ``_meta`` summary."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from ..records import META
from .readers import read_records, resolve_format

CUT = 200
_TYPE_NAMES = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "list",
    dict: "dict",
}
_META_KEYS = {"steps": "step", "methods": "method", "models": "model"}


def describe(path: str | os.PathLike[str], sample: int = 3) -> dict[str, Any]:
    """Summarise ``path`` in one pass over it; the result is JSON-able.

    ``columns`` counts, per top-level field (``_meta`` aside), the rows where it is
    present and non-null, and its value types (``null`` included); ``meta`` counts the
    ``_meta`` step, method, model and error kind; ``sample`` holds the first ``sample``
    records with strings cut to 200 characters.
    """
    fmt = resolve_format(path)
    rows = 0
    columns: dict[str, dict[str, Any]] = {}
    meta = {name: Counter() for name in [*_META_KEYS, "errors"]}
    first: list[Any] = []
    for record in read_records(path, fmt=fmt):
        rows += 1
        if len(first) < sample:
            first.append(_clip(record))
        for name, value in record.items():
            if name != META:
                _count_column(columns.setdefault(name, {"present": 0, "types": Counter()}), value)
        if isinstance(record.get(META), dict):
            _count_meta(meta, record[META])
    for column in columns.values():
        column["types"] = dict(column["types"].most_common())
    return {
        "path": str(path),
        "format": fmt,
        "rows": rows,
        "columns": columns,
        "sample": first,
        "meta": {name: dict(counts.most_common()) for name, counts in meta.items()},
    }


def render(info: dict[str, Any]) -> str:
    """A compact text report of :func:`describe`'s result."""
    lines = [f"{info['path']}  ({info['format']}, {info['rows']} rows)", ""]
    lines += _column_table(info["columns"]) or ["no columns"]
    summary = [
        f"  {name + ':':<8} {_counts(counts)}" for name, counts in info["meta"].items() if counts
    ]
    if summary:
        lines += ["", "_meta", *summary]
    if info["sample"]:
        lines += ["", f"sample (first {len(info['sample'])})"]
        lines += [json.dumps(record, indent=2, ensure_ascii=False) for record in info["sample"]]
    return "\n".join(lines)


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _count_column(column: dict[str, Any], value: Any) -> None:
    column["present"] += value is not None
    column["types"][_type_name(value)] += 1


def _count_meta(counts: dict[str, Counter], meta: dict[str, Any]) -> None:
    for name, key in _META_KEYS.items():
        if meta.get(key) is not None:
            counts[name][str(meta[key])] += 1
    error = meta.get("error")
    if isinstance(error, dict):
        counts["errors"][str(error.get("kind"))] += 1


def _clip(value: Any) -> Any:
    """``value`` made JSON-able, with long strings cut to :data:`CUT` characters."""
    if isinstance(value, dict):
        return {str(key): _clip(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clip(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= CUT else text[: CUT - 1] + "…"


def _column_table(columns: dict[str, dict[str, Any]]) -> list[str]:
    if not columns:
        return []
    width = max(len("column"), *(len(name) for name in columns))
    lines = [f"{'column':<{width}}  {'present':>7}  types"]
    for name, column in columns.items():
        lines.append(f"{name:<{width}}  {column['present']:>7}  {_counts(column['types'])}")
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())
