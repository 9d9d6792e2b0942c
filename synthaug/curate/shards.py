"""Row-by-row curation (decontaminate, filter) split into shards for job-array
schedulers, and the shards merged back.

``--shard i/N`` decides only the input rows at positions ``p`` with ``p % N == i`` and writes
its kept rows, its report and, last, its summary (whose presence marks the shard complete)
beside the output: ``OUT.shard-IIIII-of-NNNNN.jsonl`` (JSONL whatever OUT's format, so that a
shard streams its rows out as it streams them in: its memory stays that of one batch),
``...report.jsonl``, ``...summary.json``, which names the options that made it (``made_by``, a
hash of them and of the input file's size and modification time). ``--merge`` checks that all
N shards are complete and were made by the merging command's options and input, and
interleaves them by input position: the output, report and summary an unsharded run writes
(the summary's timings aside). Each decision depends on its row alone, so a shard's verdicts
are the unsharded run's.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..engine.shards import Shard
from ..errors import SynthaugError
from ..io import AtomicWriter, read_records

Record = dict[str, Any]


def shard_stem(out: Path, shard: Shard) -> Path:
    """``OUT`` without its suffix, with the shard's label: the stem of its three files."""
    stem = out.with_suffix("")
    return stem.with_name(f"{stem.name}.shard-{shard.label}")


def shard_outputs(out: Path, shard: Shard) -> tuple[Path, Path, Path]:
    """The kept rows, the report and the summary of ``shard`` of the output ``out``."""
    stem = shard_stem(out, shard)
    return (
        stem.with_name(stem.name + ".jsonl"),
        stem.with_name(stem.name + ".report.jsonl"),
        stem.with_name(stem.name + ".summary.json"),
    )


def splits(out: Path) -> list[int]:
    """The shard counts of the complete shards lying beside ``out``, in order."""
    pattern = re.compile(
        re.escape(out.with_suffix("").name) + r"\.shard-(\d{5})-of-(\d{5})\.summary\.json"
    )
    found = [pattern.fullmatch(p.name) for p in out.parent.glob("*.summary.json")]
    return sorted({int(m[2]) for m in found if m})


def shard_made_by(out: Path, shard: Shard) -> str | None:
    """The ``made_by`` of ``shard`` of ``out`` when it is complete, else None."""
    summary_path = shard_outputs(out, shard)[2]
    if not summary_path.exists():
        return None
    return json.loads(summary_path.read_text(encoding="utf-8")).get("made_by")


def complete_shards(out: Path, made_by: str) -> list[tuple[Path, Path, dict[str, Any]]]:
    """(kept rows, report, summary) of every shard of ``out``; a one-line error when the split
    is missing, mixed, unfinished or made by other options than ``made_by``."""
    counts = splits(out)
    if not counts:
        raise SynthaugError(f"{out}: no shards to merge; run them first (--shard i/N)")
    if len(counts) > 1:
        raise SynthaugError(
            f"{out}: shards of several splits ({', '.join(map(str, counts))}) lie beside it; "
            "remove the files of the split you do not want"
        )
    shards, missing = [], []
    for index in range(counts[0]):
        data, report, summary_path = shard_outputs(out, Shard(index, counts[0]))
        if not summary_path.exists():
            missing.append(f"{index}/{counts[0]}")
            continue
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("made_by") != made_by:
            raise SynthaugError(
                f"{summary_path}: shard {index}/{counts[0]} was made by other options than "
                "this command's (input, columns, settings); rerun it with these options"
            )
        shards.append((data, report, summary))
    if missing:
        raise SynthaugError(f"{out}: shard(s) {', '.join(missing)} not complete; run them")
    return shards


def _decided(data: Path, report: Path) -> Iterator[tuple[int, Record, Record | None]]:
    """(input position, report line, kept row or None) of one shard, in input order."""
    kept = iter(read_records(data)) if data.exists() else iter(())
    with open(report, encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            yield entry["row"], entry, next(kept) if entry["kept"] else None


def merge_shards(out: Path, report: Path, made_by: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``out`` and ``report`` from the complete shards of ``out`` made by ``made_by``;
    the merged counts (``rows_in``, ``rows_out``, ``dropped``) and the shards' settings."""
    shards = complete_shards(out, made_by)
    reasons: Counter[str] = Counter()
    rows_in = kept = 0
    with AtomicWriter(out) as output, AtomicWriter(report, "jsonl") as lines:
        streams = (_decided(data, shard_report) for data, shard_report, _ in shards)
        for _, entry, row in heapq.merge(*streams, key=lambda item: item[0]):
            rows_in += 1
            lines.write(entry)
            if row is not None:
                kept += 1
                output.write(row)
            else:
                reasons[entry.get("reason") or "dropped"] += 1
    settings = dict(shards[0][2].get("settings", {}), shards=len(shards))
    return {"rows_in": rows_in, "rows_out": kept, "dropped": dict(reasons)}, settings
