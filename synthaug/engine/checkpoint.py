"""Per-step checkpoint shards, written atomically.

A checkpointed map step groups its results by input position into chunks of
``chunk_size`` rows. When a chunk is complete its shard is written whole (a
local one to a temp file renamed into place, one on a URL in one PUT: see
``storage``), so a shard is either whole or absent. On restart
the step reuses a stored result when the input row at that position has the
same id as before; anything else is recomputed (through the request cache).
A row that failed is recorded too but tried again on restart, so a fixed
configuration or a recovered endpoint gets its chance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..records import META
from .storage import Remote, write_bytes


class ShardStore:
    """The shards of one step in one run directory."""

    def __init__(self, directory: Path | Remote, chunk_size: int = 64):
        self.directory, self.chunk_size = directory, chunk_size
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pending: dict[int, list[dict[str, Any]]] = {}

    def load(self) -> dict[int, tuple[str | None, list[dict[str, Any]]]]:
        """Stored results: input position → (input row id, output rows)."""
        done: dict[int, tuple[str | None, list[dict[str, Any]]]] = {}
        for shard in sorted(self.directory.glob("chunk-*.jsonl"), key=str):
            with shard.open(encoding="utf-8") as handle:
                for line in handle:
                    entry = json.loads(line)
                    if not any(row.get(META, {}).get("error") for row in entry["rows"]):
                        done[entry["i"]] = (entry["parent"], entry["rows"])
        return done

    def add(self, index: int, parent_id: str | None, rows: list[dict[str, Any]]) -> None:
        """Record the result for input ``index``; writes the chunk once it is full."""
        chunk = index // self.chunk_size
        entries = self._pending.setdefault(chunk, [])
        entries.append({"i": index, "parent": parent_id, "rows": rows})
        if len(entries) == self.chunk_size:
            self._write(chunk)

    def flush(self) -> None:
        """Write every partly filled chunk (at the end of the input)."""
        for chunk in list(self._pending):
            self._write(chunk)

    def _write(self, chunk: int) -> None:
        entries = self._pending.pop(chunk)
        lines = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
        write_bytes(self.directory / f"chunk-{chunk:06d}.jsonl", lines.encode("utf-8"))
