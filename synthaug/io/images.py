"""Images beside a run's output, addressed by content hash.

A record never holds image bytes: it holds the image's path relative to the output file's
folder, ``images/ab/cdef....png`` (the SHA-256 of the bytes, split after two hex digits so no
folder grows too large). Writing the same bytes twice is a no-op, so a resumed or repeated run
never duplicates an image; a new image goes through a temp file and a rename, so a killed run
never leaves a half-written one at its path (its temp files, ``.NAME.tmp-PID``, are swept by
the next run).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..errors import SynthaugError
from .writers import write_bytes_atomic

FOLDER = "images"
TEMP = re.compile(r"\..+\.tmp-(\d+)")
STORED = re.compile(rf"{FOLDER}/[0-9a-f]{{2}}/[0-9a-f]{{62}}\.[a-z0-9]{{1,5}}")


MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
               "gif": "image/gif", "webp": "image/webp"}  # fmt: skip


def referenced(record: dict[str, object]) -> list[str]:
    """The store paths a record's ``image`` (a path) or ``images`` (a list) column names."""
    found = record.get("images")
    candidates = [*(found if isinstance(found, list) else []), record.get("image")]
    return list(dict.fromkeys(c for c in candidates if is_stored_path(c)))  # type: ignore[misc]


def is_stored_path(relative: object) -> bool:
    """Whether ``relative`` is a path the store writes (so it cannot name a file elsewhere,
    e.g. an absolute path or one with ``..``)."""
    return isinstance(relative, str) and STORED.fullmatch(relative) is not None


class ImageStore:
    """Content-addressed image files under ``root / "images"``; ``root`` is the output's folder."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    @classmethod
    def beside(cls, output: str | os.PathLike[str] | None) -> ImageStore:
        """The store of the run writing ``output`` (the current folder without one)."""
        return cls(Path(output).parent if output is not None else Path.cwd())

    @staticmethod
    def relative_path(data: bytes, suffix: str = ".png") -> str:
        """Where ``data`` goes, relative to the root: ``images/ab/cdef...<suffix>``."""
        digest = hashlib.sha256(data).hexdigest()
        return f"{FOLDER}/{digest[:2]}/{digest[2:]}{suffix}"

    def put(self, data: bytes, suffix: str = ".png") -> str:
        """Store ``data`` (once) and return its relative path."""
        relative = self.relative_path(data, suffix)
        target = self.root / relative
        if target.is_file():
            return relative
        write_bytes_atomic(target, data)
        return relative

    def path(self, relative: str) -> Path:
        """The file a record's relative image path names (only paths the store writes)."""
        if not is_stored_path(relative):
            raise SynthaugError(
                f"{relative!r}: not an image path of the store (images/ab/<sha256>.png)"
            )
        return self.root / relative

    def open_served(self, relative: str) -> tuple[bytes, str]:
        """The bytes and media type of a stored image, for a server: only a path the store
        writes (no ``..``, nothing absolute) of a known image type, whose real file (symlinks
        resolved) lies inside the store's folder; ``FileNotFoundError`` otherwise."""
        media = MEDIA_TYPES.get(relative.rpartition(".")[2]) if is_stored_path(relative) else None
        folder = (self.root / FOLDER).resolve()
        target = (self.root / relative).resolve() if media else folder
        if media is None or not target.is_relative_to(folder) or not target.is_file():
            raise FileNotFoundError(relative)
        return target.read_bytes(), media

    def sweep(self) -> int:
        """Remove the temp files of writers that are gone (a killed run's); returns how many."""
        removed = 0
        for temp in (self.root / FOLDER).glob("??/.*.tmp-*"):
            match = TEMP.fullmatch(temp.name)
            if match and not _alive(int(match.group(1))):
                temp.unlink(missing_ok=True)
                removed += 1
        return removed

    def read(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
