"""Line lists a step reads: a user's file or a list packaged in ``synthaug/data``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ...errors import InputError


def read_list(path: str | None, packaged: str, what: str = "topic list") -> list[str]:
    """The lines of ``path`` (default: ``synthaug/data/<packaged>``), stripped, blank lines and
    ``#`` comments skipped; an ``InputError`` when it cannot be read or is empty."""
    source = Path(path) if path else resources.files("synthaug") / "data" / packaged
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(str(source), f"cannot read the {what} ({exc.strerror})") from exc
    items = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not items:
        raise InputError(str(source), f"the {what} is empty")
    return items
