"""Streaming readers (provisional JSONL-only version)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError


def read_records(path, *, fmt: str = "auto", required: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file")
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            record = json.loads(raw)
            for name in required:
                if name not in record:
                    raise InputError(str(path), "missing required field", line=number, field=name)
            yield record


def count_records(path, fmt: str = "auto") -> int | None:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())
