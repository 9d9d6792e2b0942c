"""Run folders on a local path or an fsspec URL (``s3://bucket/prefix``, ``memory://run``, ...).

A run keeps its checkpoint chunks, shard parts and completeness markers in its run folder. A
local path (or a ``file://`` URL) is a ``pathlib.Path``, written as ever: a temp file, fsynced,
renamed into place. Any other URL is a ``Remote``, a small path-like view of one file or
folder on an fsspec filesystem: a file there is written whole, in one call (on an object store
one PUT, which is atomic: the object is whole or absent), so a killed writer leaves nothing
half-written; reads stream. Credentials and endpoint come from the ``options`` (fsspec storage
options, e.g. ``endpoint_url``) or the filesystem's own configuration (for ``s3://``:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``; for any protocol,
fsspec's ``FSSPEC_<PROTOCOL>_<OPTION>`` variables). A ``Remote`` shows its URL without user
info, so no credential reaches a message, the progress display or a summary.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

from ..errors import SynthaugError
from ..io import AtomicWriter
from ..io.writers import write_bytes_atomic


class StorageError(SynthaugError):
    """A run folder that cannot be reached, read or written: one line naming the URL."""


def run_path(text: str, options: dict[str, Any] | None = None) -> Path | Remote:
    """``text`` as a run folder: a local path or ``file://`` URL as a ``Path``, any other URL
    as a ``Remote`` on its fsspec filesystem (built with the storage ``options``)."""
    if "://" not in text:
        return Path(text)
    shown = redact(text).rstrip("/")
    try:
        from fsspec.core import url_to_fs
        from fsspec.implementations.local import LocalFileSystem

        fs, path = url_to_fs(text, **(options or {}))
    except ImportError as exc:  # fsspec itself, or the protocol's library (s3fs, gcsfs, ...)
        hint = " (pip install 'synthaug[storage]')" if text.startswith(("s3://", "s3a://")) else ""
        raise StorageError(f"{shown}: {_first_line(exc)}{hint}") from None
    except Exception as exc:  # an unknown protocol, a bad option
        raise StorageError(f"{shown}: {_first_line(exc)}") from None
    return Path(path) if isinstance(fs, LocalFileSystem) else Remote(fs, path.rstrip("/"), shown)


def redact(url: str) -> str:
    """``url`` without the user info (``user:password@``) of its authority."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


@dataclass(frozen=True)
class Remote:
    """A file or folder on an fsspec filesystem, with the few ``Path`` methods a run uses."""

    fs: Any
    path: str  # as the filesystem names it (no protocol)
    shown: str  # the URL, without credentials

    def __str__(self) -> str:
        return self.shown

    def __truediv__(self, name: str) -> Remote:
        return Remote(self.fs, f"{self.path}/{name}", f"{self.shown}/{name}")

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> Remote:
        return Remote(self.fs, self.path.rsplit("/", 1)[0], self.shown.rsplit("/", 1)[0])

    def with_name(self, name: str) -> Remote:
        return self.parent / name

    def with_suffix(self, suffix: str) -> Remote:
        return self.with_name(PurePosixPath(self.name).with_suffix(suffix).name)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: an object store has no folders, its keys make them."""

    def exists(self) -> bool:
        with self._failures():
            self.fs.invalidate_cache(self.path)  # another process may have written it
            return bool(self.fs.exists(self.path))

    def glob(self, pattern: str) -> list[Remote]:
        """The files and folders here whose names match ``pattern``, in name order."""
        with self._failures():
            self.fs.invalidate_cache(self.path)
            found = self.fs.glob(f"{self.path}/{pattern}")
        return [self / str(PurePosixPath(p).relative_to(self.path)) for p in sorted(found)]

    def read_text(self, encoding: str = "utf-8") -> str:
        with self._failures(keep=FileNotFoundError):
            return bytes(self.fs.cat_file(self.path)).decode(encoding)

    def open(self, mode: str = "r", encoding: str = "utf-8") -> IO[Any]:
        """The file, streamed for reading."""
        with self._failures(keep=FileNotFoundError):
            return self.fs.open(self.path, mode, encoding=encoding)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            with self._failures(keep=FileNotFoundError):
                self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def write_bytes(self, data: bytes) -> None:
        """Write the file whole, in one call."""
        with self._failures():
            self.fs.pipe_file(self.path, data)

    def upload(self, local: Path) -> None:
        """Copy the local file ``local`` here whole."""
        with self._failures():
            self.fs.put_file(str(local), self.path)

    def check(self) -> None:
        """Reach the folder and write (then remove) a probe file in it: an unreachable
        endpoint, bad credentials or a missing bucket is one line now, before any work."""
        probe = f"{self.path}/.probe-{os.getpid()}"
        with self._failures():
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)

    @contextmanager
    def _failures(self, keep: type[BaseException] | tuple = ()) -> Iterator[None]:
        try:
            yield
        except keep:
            raise
        except Exception as exc:  # the filesystem's own (botocore's, a missing bucket, ...)
            raise StorageError(f"{self}: {_first_line(exc)}") from None


def write_bytes(target: Path | Remote, data: bytes) -> None:
    """``data`` into ``target`` whole: locally through a temp file and a rename."""
    if isinstance(target, Remote):
        target.write_bytes(data)
    else:
        write_bytes_atomic(target, data)


def write_text(target: Path | Remote, text: str) -> None:
    """``text`` (UTF-8) into ``target`` whole."""
    write_bytes(target, text.encode("utf-8"))


@contextmanager
def record_writer(target: Path | Remote) -> Iterator[AtomicWriter]:
    """An ``AtomicWriter`` on ``target``; for a ``Remote``, on a local spool file uploaded
    whole when the block ends cleanly (nothing is uploaded when it raises)."""
    if isinstance(target, Path):
        with AtomicWriter(target) as writer:
            yield writer
        return
    with tempfile.TemporaryDirectory(prefix="synthaug-spool-") as spool:
        local = Path(spool) / target.name
        with AtomicWriter(local) as writer:
            yield writer
        target.upload(local)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
