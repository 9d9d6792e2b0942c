"""Shards of a run: ``--shard i/N`` runs one share of the rows, the merge puts them back together.

The pipeline splits at its first whole-input step (or runs whole when it has none): the
source and the map steps before it form the *prefix*, which shards; the rest, the *suffix*,
needs every row and runs once, at the merge. Every shard runs the whole source (it must be
deterministic and call no model) and keeps the rows at source positions ``p`` with
``p % N == i`` (the source's ``ctx.keeps`` tells it which, so that it may skip costly work,
such as drawing images, for the others); map steps depend only on their row (ids and seeds derive from it), so a
shard's rows are those an unsharded run makes from the same source rows. A shard writes its
own checkpoints, lock and *part* under ``RUN_DIR/shards/IIIII-of-NNNNN/``: its rows, each
tagged with the source position it came from, its failed rows and, last, its summary, whose
presence marks the shard complete. ``RUN_DIR`` may be a URL (``storage.Remote``): the
parts are then read from there, so shards need no shared filesystem. The merge checks that all N parts are complete and were
made by the same prefix, interleaves their rows by source position (a k-way merge: exactly
the unsharded order), runs the suffix and writes the output: the same records, ids, order
and ``_meta`` as an unsharded run with the same cache.
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SynthaugError
from ..llm.client import Tally
from .step import Step, WholeStep
from .storage import Remote
from .summary import StepStats

PART = "part.jsonl"  # in a shard's folder: part.jsonl, part.errors.jsonl, part.summary.json
_LABEL = re.compile(r"(\d{5})-of-(\d{5})")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    def owns(self, position: int) -> bool:
        return position % self.count == self.index

    @property
    def label(self) -> str:
        return f"{self.index:05d}-of-{self.count:05d}"

    def folder(self, run_dir: Path | Remote) -> Path | Remote:
        """Where this shard keeps its lock, checkpoints and part."""
        return run_dir / "shards" / self.label


def parse_shard(text: str) -> Shard:
    """``"i/N"`` (0 <= i < N) as a ``Shard``; anything else is a one-line error."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match[1]) < int(match[2]) or int(match[2]) > 99999:
        raise SynthaugError(f"--shard {text}: give i/N with 0 <= i < N (e.g. 0/4 ... 3/4)")
    return Shard(int(match[1]), int(match[2]))


def shard_argument(text: str) -> Shard:
    """``parse_shard`` as an argparse ``type`` (its error shown after the option's name)."""
    try:
        return parse_shard(text)
    except SynthaugError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--shard {text}: ")) from None


def split_point(steps: list[Step]) -> int:
    """The index of the first whole-input step (the suffix starts there), else len(steps)."""
    return next((k for k, step in enumerate(steps) if isinstance(step, WholeStep)), len(steps))


def check_shardable(steps: list[Step]) -> None:
    """A shard runs the whole source, so the source must not call a model."""
    if steps[0].uses_llm or steps[0].backend_names():
        raise SynthaugError(
            f"--shard: steps[0] ({steps[0].name}) generates its rows with a model, one after "
            "another; it cannot be split. Run it alone first, then shard a recipe that loads "
            "its output"
        )


def part_paths(run_dir: Path | Remote, fingerprint: str) -> list[Path | Remote]:
    """The parts of the complete split of ``run_dir``; a one-line error when any is missing,
    unfinished or made by another recipe or ``--limit``."""
    labels = sorted(p.name for p in (run_dir / "shards").glob("*-of-*") if _LABEL.fullmatch(p.name))
    counts = sorted({int(_LABEL.fullmatch(label)[2]) for label in labels})  # type: ignore[index]
    if not counts:
        raise SynthaugError(f"{run_dir}: no shards to merge; run the shards first (--shard i/N)")
    if len(counts) > 1:
        raise SynthaugError(
            f"{run_dir}/shards: shards of several splits ({', '.join(map(str, counts))}); "
            "remove the folders of the split you do not want"
        )
    count = counts[0]
    parts, missing = [], []
    for index in range(count):
        folder = Shard(index, count).folder(run_dir)
        summary = folder / "part.summary.json"
        if not summary.exists():
            missing.append(f"{index}/{count}")
            continue
        made_by = json.loads(summary.read_text(encoding="utf-8"))["shard"]["fingerprint"]
        if made_by != fingerprint:
            raise SynthaugError(
                f"{summary}: shard {index}/{count} was made by another recipe, backend or "
                "--limit; rerun it with this command's options"
            )
        parts.append(folder / PART)
    if missing:
        raise SynthaugError(f"{run_dir}: shard(s) {', '.join(missing)} not complete; run them")
    return parts


def merged_rows(parts: list[Path | Remote]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(source position, row)`` of every part, in source order (each part is in order)."""
    return heapq.merge(*(_entries(part) for part in parts), key=lambda entry: entry[0])


def failed_rows(parts: list[Path | Remote]) -> list[dict[str, Any]]:
    """The failed rows of every part."""
    rows: list[dict[str, Any]] = []
    for part in parts:
        errors = part.with_name("part.errors.jsonl")
        if errors.exists():
            with errors.open(encoding="utf-8") as handle:
                rows.extend(json.loads(line) for line in handle)
    return rows


def shard_totals(parts: list[Path | Remote], stats: list[StepStats]) -> dict[str, Any]:
    """Add the parts' per-step counters into ``stats`` (the prefix's); return the sum of
    their model-use counters (the summary's ``llm`` numbers, ``endpoints`` a dict)."""
    llm: Counter[str] = Counter()
    served: Counter[str] = Counter()
    for part in parts:
        summary = json.loads(part.with_name("part.summary.json").read_text(encoding="utf-8"))
        for step, done in zip(stats, summary["steps"], strict=False):
            step.rows_in += done["rows_in"]
            step.rows_out += done["rows_out"]
            step.reused += done["reused_from_checkpoint"]
            step.errors.update(done["errors"])
            step.counts.update(done.get("counts", {}))
            if used := done.get("llm"):
                step.usage["shards"] = step.usage.get("shards", Tally()) + Tally(
                    used["requests"],
                    used["cache_hits"],
                    used["prompt_tokens"],
                    used["completion_tokens"],
                )
        used = summary["llm"]
        llm.update({k: v for k, v in used.items() if isinstance(v, int)})
        served.update(used.get("endpoints", {}))
        if isinstance(used.get("cost_usd"), float):  # a rate (tokens_per_s) does not add up
            llm["cost_usd"] += used["cost_usd"]
    return {**llm, **({"endpoints": dict(served)} if served else {})}


def _entries(part: Path | Remote) -> Iterator[tuple[int, dict[str, Any]]]:
    with part.open(encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            yield entry["o"], entry["row"]
