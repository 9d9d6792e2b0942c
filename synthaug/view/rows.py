"""What the viewer reads off one record: its step, error kind, verdict and label (the filters),
a one-line summary, a preference pair, the images it points at."""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from pathlib import Path
from typing import Any

from ..records import META

SNIPPET = 160  # characters of a row's text in the list
TEXT_FIELDS = ("instruction", "prompt", "question", "text", "input", "problem", "query", "chosen")
PROMPTS = ("prompt", "instruction", "question")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}
DATA_URI = re.compile(r"^data:image/(png|jpeg|gif|webp|bmp);base64,[A-Za-z0-9+/=\s]+$")
NONE = "(none)"  # the facet value of a record without the field
MALFORMED = "_malformed"
DEPTH = 6  # how deep images are looked for (messages.0.content.0.image is 5)  # the stand-in field of a line that is not a JSON object


def parse(text: bytes) -> dict[str, Any]:
    """The record in ``text``; a stand-in ``{_malformed: why}`` when it is not a JSON object."""
    try:
        record = json.loads(text.removeprefix(b"\xef\xbb\xbf"))  # a BOM on the first line
    except (ValueError, RecursionError) as error:
        why = (
            f"{error.msg}, column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else error
        )
        return {MALFORMED: f"malformed JSON ({why})", "_text": text[:2000].decode(errors="replace")}
    if not isinstance(record, dict):
        return {MALFORMED: f"expected a JSON object, got {type(record).__name__}"}
    return record


def meta_of(record: dict[str, Any]) -> dict[str, Any]:
    meta = record.get(META)
    return meta if isinstance(meta, dict) else {}


def step_of(record: dict[str, Any]) -> str:
    return str(meta_of(record).get("step") or NONE)


def error_of(record: dict[str, Any]) -> str:
    """The error kind of a failed row (or of a malformed line); ``(none)`` for a good one."""
    if MALFORMED in record:
        return "malformed_line"
    error = meta_of(record).get("error")
    return str(error.get("kind")) if isinstance(error, dict) else NONE


def verdict_of(record: dict[str, Any]) -> str:
    """``verified`` or ``failed`` (the ``verification`` field), else ``(none)``."""
    verification = record.get("verification")
    if isinstance(verification, dict) and "verified" in verification:
        return "verified" if verification["verified"] else "failed"
    return NONE


def label_of(record: dict[str, Any]) -> str:
    label = record.get("label")
    return NONE if label is None or isinstance(label, dict | list) else str(label)


FACETS = {"step": step_of, "error": error_of, "verdict": verdict_of, "label": label_of}


def summary(index: int, part: str, record: dict[str, Any]) -> dict[str, Any]:
    """The list's line for a record."""
    meta = meta_of(record)
    return {
        "index": index,
        "part": part,
        "id": meta.get("id"),
        "step": step_of(record),
        "method": meta.get("method"),
        "error": error_of(record),
        "verdict": verdict_of(record),
        "label": label_of(record),
        "pair": pair_of(record) is not None,
        "text": snippet(record),
    }


def snippet(record: dict[str, Any]) -> str:
    if MALFORMED in record:
        return record[MALFORMED]
    fields = [record.get(name) for name in TEXT_FIELDS]
    fields += [v for k, v in record.items() if k != META]
    for value in fields:
        if text := as_text(value):
            text = " ".join(text.split())
            return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"
    return ""


def as_text(value: Any) -> str:
    """A field shown as text: a string, or the contents of a list of chat messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        turns = [f"{m.get('role', '?')}: {m.get('content', '')}" for m in value if "content" in m]
        return "\n\n".join(turns)
    return ""


def pair_of(record: dict[str, Any]) -> dict[str, Any] | None:
    """A preference row's prompt, chosen and rejected (as written by the preference recipes or
    ``synthaug export``), with their scores and models; None for any other row."""
    if "chosen" not in record or "rejected" not in record:
        return None
    return {
        "prompt": next((as_text(record[k]) for k in PROMPTS if record.get(k)), ""),
        **{
            side: {
                "text": as_text(record.get(side)) or json.dumps(record.get(side)),
                "score": record.get(f"{side}_score"),
                "model": record.get(f"{side}_model"),
            }
            for side in ("chosen", "rejected")
        },
    }


def images_of(record: dict[str, Any], folder: Path) -> list[tuple[str, str]]:
    """(field path, value) of each string field that is an image data URI or the path of an
    image file (relative paths from ``folder``), ``_meta`` aside."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, at: str, depth: int) -> None:
        if isinstance(value, str):
            if DATA_URI.match(value[:80] + value[-8:]) or image_path(value, folder):
                found.append((at, value))
        elif isinstance(value, dict) and depth < DEPTH:
            for key, inner in value.items():
                if key != META:
                    walk(inner, f"{at}.{key}" if at else str(key), depth + 1)
        elif isinstance(value, list) and depth < DEPTH:
            for i, inner in enumerate(value[:50]):
                walk(inner, f"{at}.{i}" if at else str(i), depth + 1)

    walk(record, "", 0)
    return found


def image_path(value: str, folder: Path) -> Path | None:
    """The image file ``value`` names, if it names one that exists."""
    if len(value) > 1024 or "\n" in value or Path(value).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else folder / path
    return path if path.is_file() else None


def image_bytes(value: str, folder: Path) -> tuple[bytes, str] | None:
    """The bytes and media type of the image a field holds (data URI or path)."""
    if value.startswith("data:image/"):
        head, _, data = value.partition(",")
        try:
            return base64.b64decode(data), head[5:].split(";")[0]
        except binascii.Error:
            return None
    path = image_path(value, folder)
    if path is None:
        return None
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.read_bytes(), kind


def field_at(record: dict[str, Any], at: str) -> Any:
    """The value at a dotted field path (list items by position); None where there is none."""
    value: Any = record
    for part in at.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
