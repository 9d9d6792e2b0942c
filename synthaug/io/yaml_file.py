"""A YAML data file given by path or shipped in ``synthaug/data``, read with one-line errors."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError


def read_yaml(path: str | None, builtin: str, what: str) -> tuple[str, Any]:
    """(where, parsed YAML) of ``path``, or of the shipped ``builtin`` file when it is None;
    an unreadable file or invalid YAML raises an ``InputError`` naming the file and ``what``."""
    if path is None:
        return builtin, yaml.safe_load(
            (resources.files("synthaug") / "data" / builtin).read_text("utf-8")
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read the {what} ({exc.strerror})") from exc
    try:
        return path, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(path, f"invalid YAML ({getattr(exc, 'problem', exc)})") from exc
