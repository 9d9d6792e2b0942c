"""Atomic writers (provisional JSONL-only version)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class AtomicWriter:
    def __init__(self, path, fmt: str = "auto"):
        self.path = Path(path)
        self.temp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.temp, "w", encoding="utf-8")
        return self

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def write_many(self, records) -> None:
        for record in records:
            self.write(record)

    def __exit__(self, kind, value, tb):
        self.handle.close()
        if kind is None:
            os.replace(self.temp, self.path)
        else:
            self.temp.unlink(missing_ok=True)


def write_records(path, records, fmt: str = "auto") -> int:
    with AtomicWriter(path, fmt) as writer:
        records = list(records)
        writer.write_many(records)
    return len(records)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)
