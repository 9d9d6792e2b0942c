"""Which provider batches a run submitted, and which requests each holds (SQLite, in the run dir).

A batch is recorded as soon as its input file is uploaded (``status='uploaded'``, no batch id
yet), then updated with the server's Batch object after ``POST /batches`` and at each poll.
Each write is one transaction, so a run killed at any instant leaves a consistent file. A
restarted run looks a request up by its ``custom_id`` here and follows the batch that holds
it instead of paying for it again. Only the endpoint (``base_url``), the model and the *name*
of the key's environment variable are stored — never the key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SynthaugError

STATE_FILE = "batches.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,
    input_file_id TEXT NOT NULL UNIQUE,
    batch_id TEXT UNIQUE,
    base_url TEXT NOT NULL,
    model TEXT NOT NULL,
    api_key_env TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER,
    total INTEGER NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    output_file_id TEXT,
    error_file_id TEXT
);
CREATE TABLE IF NOT EXISTS requests (
    custom_id TEXT NOT NULL,
    seq INTEGER NOT NULL REFERENCES batches (seq),
    PRIMARY KEY (custom_id, seq)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class BatchRecord:
    """One submitted (or only uploaded) batch, as last seen."""

    seq: int
    input_file_id: str
    batch_id: str | None
    base_url: str
    model: str
    api_key_env: str
    endpoint: str
    uploaded_at: int
    status: str
    created_at: int | None
    total: int
    completed: int
    failed: int
    output_file_id: str | None
    error_file_id: str | None


class BatchStore:
    """The state file of one run directory (``":memory:"`` for a run without one)."""

    def __init__(self, path: Path | str, *, readonly: bool = False):
        self.path = path
        try:
            if readonly:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            else:
                if path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, timeout=30)
                self._db.executescript(SCHEMA)
            self._db.row_factory = sqlite3.Row
            self._db.execute("SELECT COUNT(*) FROM batches").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise SynthaugError(f"{path}: not a usable batch state file ({exc})") from None

    def add(
        self,
        input_file_id: str,
        *,
        custom_ids: Iterable[str],
        base_url: str,
        model: str,
        api_key_env: str,
        endpoint: str,
        uploaded_at: int,
    ) -> None:
        """Record an uploaded input file and the requests it holds (one transaction)."""
        ids = list(custom_ids)
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO batches (input_file_id, base_url, model, api_key_env, endpoint,"
                " uploaded_at, status, total) VALUES (?, ?, ?, ?, ?, ?, 'uploaded', ?)",
                (input_file_id, base_url, model, api_key_env, endpoint, uploaded_at, len(ids)),
            )
            self._db.executemany(
                "INSERT INTO requests (custom_id, seq) VALUES (?, ?)",
                ((cid, cursor.lastrowid) for cid in ids),
            )

    def update(self, input_file_id: str, batch: dict[str, Any]) -> None:
        """Store what the server's Batch object says about the batch of ``input_file_id``."""
        counts = batch.get("request_counts") or {}
        with self._db:
            self._db.execute(
                "UPDATE batches SET batch_id=?, status=?, created_at=?, completed=?, failed=?,"
                " output_file_id=?, error_file_id=? WHERE input_file_id=?",
                (
                    batch["id"],
                    str(batch.get("status") or "unknown"),
                    batch.get("created_at"),
                    int(counts.get("completed") or 0),
                    int(counts.get("failed") or 0),
                    batch.get("output_file_id"),
                    batch.get("error_file_id"),
                    input_file_id,
                ),
            )

    def latest(self, custom_id: str) -> BatchRecord | None:
        """The last batch that holds the request ``custom_id``, if any."""
        row = self._db.execute(
            "SELECT b.* FROM requests r JOIN batches b ON b.seq = r.seq"
            " WHERE r.custom_id = ? ORDER BY b.seq DESC LIMIT 1",
            (custom_id,),
        ).fetchone()
        return BatchRecord(**row) if row else None

    def get(self, input_file_id: str) -> BatchRecord:
        row = self._db.execute(
            "SELECT * FROM batches WHERE input_file_id = ?", (input_file_id,)
        ).fetchone()
        return BatchRecord(**row)

    def all(self) -> list[BatchRecord]:
        """Every recorded batch, oldest first."""
        return [
            BatchRecord(**row) for row in self._db.execute("SELECT * FROM batches ORDER BY seq")
        ]

    def close(self) -> None:
        self._db.close()
