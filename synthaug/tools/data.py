"""Read-only data a tool is given in the sandbox (``Sandbox.call_function(data=...)``): where
it comes from, the hash of its contents, and the contents.

A tool's implementation records each of its data files as ``{"name", "source", "kind",
"sha256"}``; a call is run only with contents of that hash, so ``synthaug verify`` re-runs a
call on the very corpus it was made with, or reports that the corpus changed. Kinds:

- ``file``: the file's bytes as they are (e.g. the shipped ``encyclopedia.jsonl``);
- ``chunks``: the chunks of ``synthaug ingest`` (JSONL or Parquet) as JSONL rows
  ``{"chunk_id", "text", "source"}`` in file order, so the sandbox needs no Parquet reader.

``source`` is a path, or ``synthaug:NAME`` for a file shipped in ``synthaug/data``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError
from ..io.readers import read_records

SHIPPED = "synthaug:"
DATA = Path(__file__).parent.parent / "data"
Kind = Literal["file", "chunks"]
KEPT = 4  # files whose contents stay in memory: a run uses one or two
_loaded: dict[tuple[str, str, int, int], bytes] = {}  # (path, kind, mtime, size) -> contents


class DataChanged(InputError):
    """A tool's data file is missing or no longer has the contents its calls were made on."""


@dataclass(frozen=True)
class DataFile:
    """One read-only file of a tool: ``name`` is what the tool opens in ``$SYNTHAUG_DATA``."""

    name: str
    source: str
    kind: Kind
    sha256: str

    def spec(self) -> dict[str, str]:
        return asdict(self)


def resolve(source: str) -> Path:
    """The file a source names."""
    return DATA / source[len(SHIPPED) :] if source.startswith(SHIPPED) else Path(source)


def _contents(path: Path, kind: str) -> bytes:
    try:
        stat = path.stat()
    except OSError as error:
        raise InputError(str(path), f"cannot read: {error.strerror or error}") from None
    key = (str(path.resolve()), kind, stat.st_mtime_ns, stat.st_size)
    if key not in _loaded:
        if kind == "chunks":
            rows = read_records(path, required=("text", "chunk_id"))
            body = "".join(
                json.dumps({"chunk_id": str(r["chunk_id"]), "text": str(r["text"]),
                            "source": r.get("source")}, ensure_ascii=False, default=str) + "\n"
                for r in rows
            ).encode()  # fmt: skip
            if not body:
                raise InputError(str(path), "holds no chunks")
        else:
            try:
                body = path.read_bytes()
            except OSError as error:
                raise InputError(str(path), f"cannot read: {error.strerror or error}") from None
        while len(_loaded) >= KEPT:
            del _loaded[next(iter(_loaded))]
        _loaded[key] = body
    return _loaded[key]


def data_file(name: str, source: str | os.PathLike[str], kind: Kind = "file") -> DataFile:
    """A data file described by its current contents."""
    text = str(source)
    if not text.startswith(SHIPPED):
        text = str(Path(text).resolve())
    body = _contents(resolve(text), kind)
    return DataFile(name, text, kind, hashlib.sha256(body).hexdigest())


def load(spec: dict[str, Any]) -> bytes:
    """The contents a recorded data file had; ``DataChanged`` when they differ now."""
    path = resolve(spec["source"])
    try:
        body = _contents(path, spec["kind"])
    except InputError as error:
        raise DataChanged(str(path), error.problem) from None
    digest = hashlib.sha256(body).hexdigest()
    if digest != spec["sha256"]:
        raise DataChanged(str(path), f"changed since the calls were made (sha256 {digest[:12]}, "
                          f"recorded {spec['sha256'][:12]})")  # fmt: skip
    return body
