"""Error rows for outputs a step drops."""

from __future__ import annotations

from typing import Any

from ...engine.step import Step
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
