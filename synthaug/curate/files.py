"""Stream a data file through a curation decision into an output file and a report.

Each input row becomes one report line: its 1-based row number, its
``_meta.id`` when it has one, whether it was kept and, if not, why (with the
matching partner or benchmark item). Output, report and summary are written
atomically, so a failed run leaves none of them half-written. A ``shard`` decides only
its share of the rows into files of its own (``curate.shards``); ``merge`` puts the shards
together.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.progress import CountProgress
from ..engine.shards import Shard
from ..errors import SynthaugError
from ..io import AtomicWriter, count_records, read_records
from ..io.writers import write_format, write_text_atomic
from ..records import META
from .shards import merge_shards, shard_outputs

Record = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """What happens to one row: kept (possibly rewritten) or dropped with a reason."""

    kept: bool
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    row: Record | None = None  # a rewritten row to write instead of the input row


KEPT = Verdict(True)
Decide = Callable[[list[tuple[int, Record]]], list[Verdict]]


class FileCuration:
    """One input file, one output file, one report: the plumbing every curation command shares."""

    def __init__(
        self,
        operation: str,
        source: Path,
        out: Path,
        columns: list[str],
        report: Path | None = None,
        quiet: bool = False,
        shard: Shard | None = None,
        made_by: str = "",
    ):
        if out.exists() and source.exists() and os.path.samefile(out, source):
            raise SynthaugError(
                f"{out}: the output would overwrite the input; choose another --out"
            )
        write_format(out)
        self.operation, self.source, self.out, self.columns = operation, source, out, columns
        stem = out.with_suffix("")
        self.report = report or stem.with_name(stem.name + ".report.jsonl")
        self.summary_path = stem.with_name(stem.name + ".summary.json")
        if shard is not None:
            self.out, self.report, self.summary_path = shard_outputs(out, shard)
        self.quiet, self.shard, self.made_by = quiet, shard, made_by
        self.total = count_records(source)
        if shard is not None:
            self.total = len(range(shard.index, self.total, shard.count))
        self.started = time.monotonic()

    def rows(self, label: str) -> Iterator[tuple[int, Record]]:
        """The input rows (0-based index, record) of this shard or all, with a progress display."""
        progress = None if self.quiet else CountProgress(f"{self.operation} {label}", self.total)
        for index, record in enumerate(read_records(self.source, required=self.columns)):
            if self.shard is not None and not self.shard.owns(index):
                continue
            yield index, record
            if progress:
                progress.tick()
        if progress:
            progress.draw(final=True)

    def batches(self, label: str, size: int = 1024) -> Iterator[list[tuple[int, Record]]]:
        """The input rows in lists of ``size``."""
        batch: list[tuple[int, Record]] = []
        for item in self.rows(label):
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def write(self, decide: Decide, label: str = "writing") -> dict[str, Any]:
        """Decide every row (a batch at a time), write kept rows and the report; the summary."""
        reasons: Counter[str] = Counter()
        rows_in = kept = 0
        with AtomicWriter(self.out) as output, AtomicWriter(self.report, "jsonl") as report:
            for batch in self.batches(label):
                for (index, record), verdict in zip(batch, decide(batch), strict=True):
                    rows_in += 1
                    entry: Record = {"row": index + 1, "id": row_id(record), "kept": verdict.kept}
                    if verdict.kept:
                        kept += 1
                        output.write(verdict.row if verdict.row is not None else record)
                    else:
                        reasons[verdict.reason or "dropped"] += 1
                        entry["reason"] = verdict.reason
                    entry.update(verdict.detail)
                    report.write(entry)
        return self._summary(rows_in, kept, reasons)

    def merge(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Write the output and report from this output's complete shards: the summary and
        the shards' settings."""
        counts, settings = merge_shards(self.out, self.report, self.made_by)
        summary = self._summary(counts["rows_in"], counts["rows_out"], Counter(counts["dropped"]))
        return summary, settings

    def _summary(self, rows_in: int, kept: int, reasons: Counter[str]) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        megabytes = self.source.stat().st_size / 1e6 if self.source.is_file() else None
        summary = {
            "operation": self.operation,
            "input": str(self.source),
            "rows_in": rows_in,
            "rows_out": kept,
            "dropped": dict(reasons),
            "wall_s": round(wall, 3),
            "mb_per_s": round(megabytes / wall, 2) if megabytes is not None and wall else None,
            "outputs": {
                "data": str(self.out),
                "report": str(self.report),
                "summary": str(self.summary_path),
            },
        }
        if self.shard is not None:
            summary["shard"] = f"{self.shard.index}/{self.shard.count}"
            summary["made_by"] = self.made_by
        return summary

    def save(self, summary: dict[str, Any]) -> None:
        write_text_atomic(self.summary_path, json.dumps(summary, indent=2) + "\n")


def row_id(record: Record) -> str | None:
    meta = record.get(META)
    return meta.get("id") if isinstance(meta, dict) else None


def render(summary: dict[str, Any]) -> str:
    """The summary as a few lines for the terminal."""
    dropped = sum(summary["dropped"].values())
    lines = [
        f"{summary['operation']}: {summary['rows_in']:,} rows in, {summary['rows_out']:,} kept, "
        f"{dropped:,} dropped in {summary['wall_s']:.1f}s"
        + (f" ({summary['mb_per_s']} MB/s)" if summary.get("mb_per_s") else "")
    ]
    lines += [f"  {reason}: {count:,}" for reason, count in sorted(summary["dropped"].items())]
    lines += [f"  {k}: {v}" for k, v in summary.get("settings", {}).items()]
    lines += [f"  {k}: {v}" for k, v in summary["outputs"].items()]
    return "\n".join(lines)
