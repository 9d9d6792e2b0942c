"""The review queue in SQLite (WAL mode): imported rows, leases and annotations.

Every imported row is one ``items`` row (``position`` is its place in the queue, ``queued``
whether humans review it). An annotator *claims* the next open item inside ``BEGIN
IMMEDIATE``: the item gets a fresh random lease id and an expiry, so an abandoned item goes
back to the queue when its lease runs out. A submission must name the item's current lease;
``annotations.item_id`` is unique, so each item is annotated exactly once whatever the
number of annotators (a second or a stale submission is a :class:`Conflict`).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import SynthaugError
from ..hashing import stable_hash

ACTIONS = ("accept", "relabel", "edit", "reject")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    record TEXT NOT NULL,
    queued INTEGER NOT NULL,
    position REAL NOT NULL,
    lease TEXT,
    leased_to TEXT,
    lease_expires REAL,
    draft TEXT
);
CREATE TABLE IF NOT EXISTS annotations (
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    annotator TEXT NOT NULL,
    action TEXT NOT NULL,
    label TEXT,
    text TEXT,
    messages TEXT,
    annotated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_open ON items (queued, position);
"""


class Conflict(Exception):
    """A submission for an item not leased to the caller, or already annotated (HTTP 409)."""


def utc_now() -> str:
    """The current time as ISO 8601 UTC, e.g. ``2026-12-02T16:40:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ReviewStore:
    """The queue database at ``path``; each call opens its own connection (thread-safe)."""

    def __init__(self, path: str | Path, lease_seconds: float = 600):
        self.path, self.lease_seconds = Path(path), lease_seconds
        if self.path.is_dir():
            raise SynthaugError(f"{self.path}: is a directory; give --db a file name")
        try:
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise SynthaugError(
                f"{self.path}: not a usable review queue database ({exc}); give another --db"
            ) from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: committed on success, rolled back on error."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def import_rows(self, rows: list[dict[str, Any]], queued: list[bool], source: str) -> bool:
        """Import ``rows`` once (all in one transaction); False when this queue already has them.

        The queue remembers a hash of the rows, so a restart with a changed DATA file is an error
        rather than a silently mixed queue.
        """
        digest = stable_hash(rows)
        with self._write() as db:
            found = db.execute("SELECT value FROM meta WHERE key='rows_hash'").fetchone()
            if found:
                if found[0] != digest:
                    raise SynthaugError(
                        f"{self.path}: this review queue was made from other data than {source}; "
                        "give another --db or the original file"
                    )
                return False
            db.executemany(
                "INSERT INTO items (id, record, queued, position) VALUES (?, ?, ?, ?)",
                [
                    (i, json.dumps(row, ensure_ascii=False), int(q), i)
                    for i, (row, q) in enumerate(zip(rows, queued, strict=True))
                ],
            )
            db.execute("INSERT INTO meta VALUES ('rows_hash', ?)", (digest,))
            db.execute("INSERT INTO meta VALUES ('source', ?)", (source,))
        return True

    def claim(self, annotator: str) -> dict[str, Any] | None:
        """The item leased to ``annotator``: the one it still holds, else the next open one."""
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT id, lease FROM items WHERE leased_to=? AND lease_expires>? AND queued=1 "
                "AND id NOT IN (SELECT item_id FROM annotations) ORDER BY position LIMIT 1",
                (annotator, now),
            ).fetchone()
            if row is None:
                row = db.execute(
                    "SELECT id FROM items WHERE queued=1 AND (lease_expires IS NULL OR "
                    "lease_expires<=?) AND id NOT IN (SELECT item_id FROM annotations) "
                    "ORDER BY position LIMIT 1",
                    (now,),
                ).fetchone()
                if row is None:
                    return None
                row = (row[0], secrets.token_hex(8))
            db.execute(
                "UPDATE items SET lease=?, leased_to=?, lease_expires=? WHERE id=?",
                (row[1], annotator, now + self.lease_seconds, row[0]),
            )
            record, draft = db.execute(
                "SELECT record, draft FROM items WHERE id=?", (row[0],)
            ).fetchone()
        return {
            "id": row[0],
            "lease": row[1],
            "record": json.loads(record),
            "draft": json.loads(draft) if draft else None,
        }

    def _check_lease(self, db: sqlite3.Connection, item: int, lease: str, annotator: str) -> None:
        """A :class:`Conflict` unless ``item`` is open and leased to ``annotator`` as ``lease``.

        A lease that ran out still counts while nobody else has claimed the item.
        """
        row = db.execute("SELECT lease, leased_to FROM items WHERE id=?", (item,)).fetchone()
        if row is None:
            raise Conflict(f"no item {item}")
        if db.execute("SELECT 1 FROM annotations WHERE item_id=?", (item,)).fetchone():
            raise Conflict(f"item {item} is already annotated")
        if row[0] is None or row[0] != lease or row[1] != annotator:
            raise Conflict(f"item {item} is not leased to {annotator}")

    def submit(
        self,
        item: int,
        lease: str,
        annotator: str,
        action: str,
        label: str | None = None,
        text: str | None = None,
        messages: list[dict[str, str]] | None = None,
    ) -> None:
        """Record the annotation of ``item``; a :class:`Conflict` when it is not the caller's."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        with self._write() as db:
            self._check_lease(db, item, lease, annotator)
            db.execute(
                "INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item,
                    annotator,
                    action,
                    label,
                    text,
                    None if messages is None else json.dumps(messages, ensure_ascii=False),
                    utc_now(),
                ),
            )
            db.execute(
                "UPDATE items SET lease=NULL, leased_to=NULL, lease_expires=NULL, draft=NULL "
                "WHERE id=?",
                (item,),
            )

    def skip(self, item: int, lease: str, annotator: str) -> None:
        """Give ``item`` back unannotated; it moves to the end of the queue."""
        with self._write() as db:
            self._check_lease(db, item, lease, annotator)
            end = db.execute("SELECT MAX(position) FROM items").fetchone()[0]
            db.execute(
                "UPDATE items SET lease=NULL, leased_to=NULL, lease_expires=NULL, position=? "
                "WHERE id=?",
                (end + 1, item),
            )

    def save_draft(self, item: int, lease: str, annotator: str, messages: list[Any]) -> None:
        """Keep a dialogue in progress with its item, so a reload resumes it."""
        with self._write() as db:
            self._check_lease(db, item, lease, annotator)
            db.execute(
                "UPDATE items SET draft=? WHERE id=?",
                (json.dumps(messages, ensure_ascii=False), item),
            )

    def progress(self) -> dict[str, int]:
        """``done`` (annotated) and ``total`` (queued) items."""
        with self._connect() as db:
            total = db.execute("SELECT COUNT(*) FROM items WHERE queued=1").fetchone()[0]
            done = db.execute(
                "SELECT COUNT(*) FROM annotations JOIN items ON items.id=item_id WHERE queued=1"
            ).fetchone()[0]
        return {"done": done, "total": total}

    def rows(self) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Each imported record, in import order, with its annotation (or None)."""
        with self._connect() as db:
            cursor = db.execute(
                "SELECT record, annotator, action, label, text, messages, annotated_at "
                "FROM items LEFT JOIN annotations ON item_id=items.id ORDER BY items.id"
            )
            for record, annotator, action, label, text, messages, at in cursor:
                note = None
                if annotator is not None:
                    note = {
                        "annotator": annotator,
                        "action": action,
                        "label": label,
                        "text": text,
                        "messages": json.loads(messages) if messages else None,
                        "annotated_at": at,
                    }
                yield json.loads(record), note

    def record(self, item: int) -> dict[str, Any] | None:
        """The imported record of ``item`` (None when there is none)."""
        with self._connect() as db:
            row = db.execute("SELECT record FROM items WHERE id=?", (item,)).fetchone()
        return json.loads(row[0]) if row else None
