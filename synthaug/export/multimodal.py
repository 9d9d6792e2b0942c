"""Records with an image to the datasets vision-language trainers read.

- ``llava``: LLaVA's instruction file (Liu et al., 2023), a JSON list of ``{"id", "image",
  "conversations": [{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", ...}]}``;
  ``image`` is the picture's path relative to the export file's folder (LLaVA's
  ``--image_folder``), the ``<image>`` token starts the first human turn.
- ``hf-images``: a Hugging Face dataset folder (``data/train-00000-of-00001.parquet``) with
  TRL's vision messages, ``messages`` whose contents are ``[{"type": "image"}, {"type":
  "text", "text"}]`` lists, and ``images``, a list of ``datasets.Image`` (the bytes embedded),
  so that ``datasets.load_dataset(folder)`` gives PIL images.

A record needs ``image`` (a path relative to its file's folder, as ``synthaug.io.images``
writes it) and ``messages`` (user/assistant turns). Both write atomically.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import InputError, SynthaugError
from ..io.images import is_stored_path
from ..io.readers import read_numbered
from ..io.writers import write_text_atomic
from ..records import META

IMAGE_FORMATS = ("llava", "hf-images")
IMAGE_TOKEN = "<image>"
ROLES = {"user": "human", "assistant": "gpt"}


def _turns(source: Path, line: int, record: dict[str, Any]) -> tuple[Path, list[dict]]:
    """The record's picture (checked to exist) and its user/assistant messages."""
    image, messages = record.get("image"), record.get("messages")
    if not isinstance(image, str) or not image:
        raise InputError(source, "no 'image' path in the record", line)
    if not is_stored_path(image):  # never embed a file from outside the images folder
        raise InputError(
            source, f"image {image!r} is not a path in images/ (images/ab/<sha256>.png)", line
        )
    picture = source.parent / image
    if not picture.is_file():
        raise InputError(source, f"image {image} not found beside the file", line)
    if not isinstance(messages, list) or not messages:
        raise InputError(source, "no 'messages' list in the record", line)
    turns = [m for m in messages if isinstance(m, dict) and m.get("role") in ROLES]
    if not turns or turns[0]["role"] != "user":
        raise InputError(source, "'messages' must start with a user turn", line)
    return picture, turns


def _record_id(record: dict[str, Any], line: int) -> str:
    meta = record.get(META)
    return str(meta.get("id")) if isinstance(meta, dict) and meta.get("id") else str(line)


def export_llava(source: Path, out: Path) -> int:
    """Write LLaVA's JSON list; returns the number of items."""
    items = []
    for line, record in read_numbered(source):
        picture, turns = _turns(source, line, record)
        conversations = [{"from": ROLES[t["role"]], "value": str(t["content"])} for t in turns]
        conversations[0]["value"] = f"{IMAGE_TOKEN}\n{conversations[0]['value']}"
        image = os.path.relpath(picture.resolve(), out.resolve().parent)
        items.append({"id": _record_id(record, line), "image": image,
                      "conversations": conversations})  # fmt: skip
    write_text_atomic(out, json.dumps(items, ensure_ascii=False, indent=1) + "\n")
    return len(items)


def export_hf_images(source: Path, folder: Path) -> int:
    """Write the dataset folder (replacing ``folder/data``); returns the number of rows."""
    try:
        import datasets
    except ImportError:
        raise SynthaugError(
            "the hf-images export needs the datasets package: pip install 'synthaug[prefs]'"
        ) from None

    rows: dict[str, list] = {"source_id": [], "messages": [], "images": []}
    for line, record in read_numbered(source):
        picture, turns = _turns(source, line, record)
        messages = []
        for k, turn in enumerate(turns):
            content = [{"type": "text", "text": str(turn["content"])}]
            if k == 0:
                content.insert(0, {"type": "image", "text": None})
            messages.append({"role": turn["role"], "content": content})
        rows["source_id"].append(_record_id(record, line))
        rows["messages"].append(messages)
        rows["images"].append([{"bytes": picture.read_bytes(), "path": picture.name}])
    features = datasets.Features({
        "source_id": datasets.Value("string"),
        "messages": [{"role": datasets.Value("string"),
                      "content": [{"type": datasets.Value("string"),
                                   "text": datasets.Value("string")}]}],
        "images": datasets.Sequence(datasets.Image()),
    })  # fmt: skip
    table = datasets.Dataset.from_dict(rows, features=features)
    staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "data").mkdir(parents=True)
        table.to_parquet(str(staging / "data" / "train-00000-of-00001.parquet"))
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "data").exists():  # set aside, not deleted, until the new one is in place
            os.replace(folder / "data", staging / "old")
        os.replace(staging / "data", folder / "data")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(table)
