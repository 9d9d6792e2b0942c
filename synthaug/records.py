"""Records: plain JSON-able dicts plus a ``_meta`` dict of provenance.

``_meta`` holds ``id``, ``parents`` (ids of the records this one came from),
``step``, ``method``, ``model``, ``request`` (hashes of the model requests that
made it), ``seed`` and, for a row that failed, ``error`` (``{"kind", "message"}``).
Ids derive from lineage and position, never from wall-clock time, so a resumed
run produces the same ids as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

from .hashing import stable_hash

META = "_meta"


def record_id(*lineage: Any) -> str:
    """A 16-hex-digit id derived from the record's lineage (parent ids, step, position)."""
    return stable_hash(list(lineage), 16)


def meta(record: dict[str, Any]) -> dict[str, Any]:
    """The record's ``_meta`` dict (created empty when missing)."""
    return record.setdefault(META, {})


def derive(
    parent: dict[str, Any],
    fields: dict[str, Any],
    *,
    step: str,
    method: str,
    index: int = 0,
    keep_parent_fields: bool = True,
    **provenance: Any,
) -> dict[str, Any]:
    """A child record of ``parent`` with ``fields`` set and provenance filled in."""
    parent_id = parent.get(META, {}).get("id")
    child = {k: v for k, v in parent.items() if k != META} if keep_parent_fields else {}
    child.update(fields)
    child[META] = {
        "id": record_id(parent_id, step, index),
        "parents": [parent_id] if parent_id else [],
        "step": step,
        "method": method,
        **{k: v for k, v in provenance.items() if v is not None},
    }
    return child


def source_record(fields: dict[str, Any], *, source: str, index: int) -> dict[str, Any]:
    """A record read from a file or built-in set: its id derives from the source and position."""
    record = {k: v for k, v in fields.items() if k != META}
    record[META] = {
        "id": fields.get(META, {}).get("id") or record_id(source, index),
        "parents": [],
        "step": "load",
        "method": "load",
        "source": source,
    }
    return record


def failed(
    parent: dict[str, Any] | None,
    fields: dict[str, Any] | None = None,
    *,
    step: str,
    method: str,
    kind: str,
    message: str,
    index: Any = 0,
) -> dict[str, Any]:
    """An error row (``_meta.error`` = ``{kind, message}``): the pipeline writes it to the errors
    file and counts it by ``kind``. ``fields`` (e.g. the failed text) stay in it for inspection.

    With a ``parent``, a child of it as ``derive`` makes (its fields kept, id from the parent's,
    ``step`` and ``index``). Without one (a source step's failed request), ``fields`` alone, and
    ``index`` is the position: a tuple of parts, the id ``record_id(step, *index)``.
    """
    error = {"kind": kind, "message": message}
    if parent is not None:
        return derive(parent, fields or {}, step=step, method=method, index=index, error=error)
    position = index if isinstance(index, tuple) else (index,)
    return {
        **(fields or {}),
        META: {
            "id": record_id(step, *position),
            "parents": [],
            "step": step,
            "method": method,
            "error": error,
        },
    }


def error_of(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record's structured error, or None for a good record."""
    return record.get(META, {}).get("error")
