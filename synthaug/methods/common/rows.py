"""Error rows for outputs a step drops; rows of a packaged data file."""

from __future__ import annotations

from importlib import resources
from typing import Any

from ...engine.step import Step
from ...io import read_records
from ...records import failed


def dropped(
    step: Step,
    row: dict[str, Any] | None,
    kind: str,
    message: str,
    index: Any,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An error row of ``step`` (``_meta.error`` = ``{kind, message}``) for an output that was
    dropped; ``fields`` (e.g. the failed text and its verification) stay in it for inspection.
    ``row`` is the input row, or None in a source step (``index`` is then the position; see
    ``records.failed``).

    The pipeline sends it to the errors file and counts it by ``kind`` in the summary."""
    return failed(
        row, fields, step=step.name, method=step.method, kind=kind, message=message, index=index
    )


def packaged_rows(
    path: str | None, builtin: str, required: list[str], count: int | None = None
) -> list[dict[str, Any]]:
    """The first ``count`` rows (all with None) of ``path``, or of the packaged data file
    ``builtin`` (under ``synthaug/data``) when ``path`` is None."""
    source = path or str(resources.files("synthaug") / "data" / builtin)
    rows = list(read_records(source, required=required))
    return rows[:count] if count else rows


def kept_if_verified(
    step: Step, row: dict[str, Any], record: dict[str, Any], kind: str, message: str
) -> list[dict[str, Any]]:
    """``[record]`` when its ``verification`` holds, else an error row ``kind`` of ``step``
    that keeps the record's written fields for inspection."""
    if record["verification"]["verified"]:
        return [record]
    return [dropped(step, row, kind, message, 0, {k: record[k] for k in step.writes})]
