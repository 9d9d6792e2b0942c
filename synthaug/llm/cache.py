"""Content-addressed request (and embedding, and sandbox result) cache in SQLite (WAL mode).

The key is a SHA-256 over the model identity (weights-file hash for local
models, endpoint + model name for servers) and the full request: rendered
messages or prompt, sampling parameters, schema or grammar, and the per-row
seed. It never depends on batch layout, so a rerun (or a resumed run) reuses
every answer it already paid for. Each completion is committed as soon as it
arrives; several processes may write at once (WAL + busy timeout). A
completion without a usable choice is never stored, and a stored one that is
not a well-formed, usable completion is dropped when read, so it is requested
again. A path that is not an SQLite file is a one-line ``SynthaugError``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from pydantic import ValidationError

from ..errors import SynthaugError
from ..hashing import file_sha256, stable_hash
from .backend import check_completion
from .types import ChatRequest, Completion

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS executions (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
);
"""


def default_cache_path() -> Path:
    """``$SYNTHAUG_CACHE``, else ``$XDG_CACHE_HOME/synthaug/requests.sqlite3``."""
    if env := os.environ.get("SYNTHAUG_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "synthaug" / "requests.sqlite3"


def request_key(model_identity: str, request: ChatRequest) -> str:
    """The cache key of ``request`` sent to the model ``model_identity``."""
    return stable_hash({"model": model_identity, "request": request.cache_fields()})


class RequestCache:
    """A thread-safe handle on the SQLite request cache."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            if self.path.is_dir():
                raise IsADirectoryError(21, "is a directory")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise SynthaugError(
                f"{self.path}: cannot open the request cache ({_reason(exc, self.path)}); "
                "give another --cache or --no-cache"
            ) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._db.commit()
        except sqlite3.Error as exc:
            self._db.close()
            raise SynthaugError(
                f"{self.path}: not a usable request cache ({_reason(exc)}); "
                "give another --cache or --no-cache"
            ) from None

    def get(self, key: str) -> Completion | None:
        """The stored completion, or None; a malformed or unusable stored entry is dropped."""
        with self._lock:
            row = self._db.execute("SELECT value FROM completions WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        try:
            completion = Completion.model_validate_json(row[0])
        except (ValidationError, ValueError, TypeError):
            completion = None
        if completion is None or check_completion(completion) is not None:
            with self._lock:
                self._db.execute("DELETE FROM completions WHERE key=? AND value=?", (key, row[0]))
                self._db.commit()
            return None
        return completion

    def put(self, key: str, completion: Completion) -> None:
        """Store ``completion`` under ``key`` (first writer wins); unusable ones are not stored."""
        if check_completion(completion) is not None:
            return
        value = completion.model_copy(update={"cached": False}).model_dump_json()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO completions (key, value) VALUES (?, ?)", (key, value)
            )
            self._db.commit()

    def get_vectors(self, keys: list[str]) -> dict[str, bytes]:
        """Stored embeddings (float32 bytes) of those ``keys`` that have one."""
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value FROM embeddings WHERE key IN ({marks})", chunk
                )
                found.update(rows.fetchall())
        return found

    def put_vectors(self, items: list[tuple[str, bytes]]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO embeddings (key, value) VALUES (?, ?)", items
            )
            self._db.commit()

    def get_execution(self, key: str) -> str | None:
        """A stored sandbox result (JSON), see ``synthaug.verify.sandbox``."""
        with self._lock:
            row = self._db.execute("SELECT value FROM executions WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def put_execution(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO executions (key, value) VALUES (?, ?)", (key, value)
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def file_hash(self, path: str) -> str:
        """SHA-256 of a weights file, remembered by (path, size, mtime) so it is read once."""
        stat = os.stat(path)
        ident = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            row = self._db.execute(
                "SELECT sha256 FROM file_hashes WHERE path=? AND size=? AND mtime_ns=?", ident
            ).fetchone()
        if row:
            return row[0]
        digest = file_sha256(path)
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO file_hashes VALUES (?, ?, ?, ?)", (*ident, digest)
            )
            self._db.commit()
        return digest

    def merge(self, other: str | os.PathLike[str]) -> int:
        """Add every entry of the cache at ``other`` that this one lacks (e.g. a worker's);
        returns how many completions were added."""
        source = Path(other)
        if not source.is_file():
            raise SynthaugError(f"{source}: no such request cache")
        before = len(self)
        with self._lock:
            try:
                self._db.execute("ATTACH DATABASE ? AS other", (str(source),))
            except sqlite3.Error as exc:
                raise SynthaugError(f"{source}: cannot open ({_reason(exc)})") from None
            try:
                for table in ("completions", "embeddings", "executions", "file_hashes"):
                    self._db.execute(
                        f"INSERT OR IGNORE INTO main.{table} SELECT * FROM other.{table}"
                    )
                self._db.commit()
            except sqlite3.Error as exc:
                self._db.rollback()
                raise SynthaugError(f"{source}: not a request cache ({_reason(exc)})") from None
            finally:
                self._db.execute("DETACH DATABASE other")
        return len(self) - before

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _reason(exc: BaseException, path: Path | None = None) -> str:
    for parent in path.parents if path is not None else ():
        if parent.exists() and not parent.is_dir():
            return f"{parent} is a file, not a folder"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
