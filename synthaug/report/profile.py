"""What a report shows about a data file, gathered in one streaming pass.

Every row is counted (rows, error kinds, verification verdicts, column presence, preference
pairs and their ties); values for distributions, diversity and samples come from a seeded
reservoir sample of at most ``sample_size`` rows, whose size the report states, so memory is
bounded by the sample whatever the file's size. The run's summary
(``<stem>.summary.json``) and checkpoints (``.<stem>.run/checkpoints``) are read when they
lie beside the file, for the step funnel, model use and lineage.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..curate.diversity import distinct_n, self_bleu
from ..engine.progress import CountProgress
from ..io.readers import count_records, read_records
from ..records import META
from .preference import PairCounts

EXAMPLES = 3  # examples kept per error kind and per failing verification kind
DIVERSITY_TEXTS = 300  # self-BLEU is quadratic: at most this many texts of the sample


@dataclass
class Profile:
    path: Path
    rows: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    present: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    verified: dict[str, Counter[bool]] = field(default_factory=dict)
    failed_examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    dropped: list[dict[str, Any]] = field(default_factory=list)  # a curation report's examples
    pairs: PairCounts = field(default_factory=PairCounts)

    @property
    def sampled(self) -> bool:
        return len(self.sample) < self.rows


def profile(
    path: str | Path, sample_size: int = 20_000, seed: int = 0, progress: bool = False
) -> Profile:
    """One pass over ``path`` (any format ``read_records`` reads); ``progress``: a progress
    display on stderr (rows read, rows/s, ETA)."""
    found = Profile(Path(path))
    rng = random.Random(seed)
    shown = CountProgress("report reading", count_records(path)) if progress else None
    for record in read_records(path):
        found.rows += 1
        if shown:
            shown.tick()
        _reservoir(found.sample, record, found.rows, sample_size, rng)
        found.present.update(k for k, v in record.items() if k != META and v is not None)
        meta = record.get(META) if isinstance(record.get(META), dict) else {}
        if isinstance(error := meta.get("error"), dict):
            kind = str(error.get("kind"))
            found.errors[kind] += 1
            _keep(found.error_examples, kind, {"id": meta.get("id"), **error})
        if isinstance(verdict := record.get("verification"), dict) and "kind" in verdict:
            kind = str(verdict["kind"])
            ok = bool(verdict.get("verified"))
            found.verified.setdefault(kind, Counter())[ok] += 1
            if not ok:
                _keep(found.failed_examples, kind, {"id": meta.get("id"), **verdict})
        if "chosen" in record:
            found.pairs.add(record)
    if shown:
        shown.draw(final=True)
    summary = found.path.with_name(f"{found.path.stem}.summary.json")
    if summary.is_file():
        found.summary = json.loads(summary.read_text(encoding="utf-8"))
    found.dropped = _dropped_examples(found.path.with_name(f"{found.path.stem}.report.jsonl"))
    return found


def _dropped_examples(report: Path, most: int = 2 * EXAMPLES) -> list[dict[str, Any]]:
    """The first rows a curation command removed, with its evidence (partner, benchmark...)."""
    examples: list[dict[str, Any]] = []
    if report.is_file():
        with open(report, encoding="utf-8") as handle:
            for line in handle:
                if len(examples) >= most:
                    break
                if not (entry := json.loads(line)).get("kept", True):
                    examples.append(entry)
    return examples


def _reservoir(
    kept: list[dict[str, Any]], record: dict[str, Any], seen: int, size: int, rng: random.Random
) -> None:
    if len(kept) < size:
        kept.append(record)
    elif (slot := rng.randrange(seen)) < size:
        kept[slot] = record


def _keep(examples: dict[str, list[dict[str, Any]]], kind: str, example: dict[str, Any]) -> None:
    found = examples.setdefault(kind, [])
    if len(found) < EXAMPLES:
        found.append(example)


def verification_rates(found: Profile) -> list[dict[str, Any]]:
    """Per verification kind: rows verified, rows failed, the pass rate and failing examples."""
    return [
        {
            "kind": kind,
            "ok": counts[True],
            "failed": counts[False],
            "rate": counts[True] / max(1, counts.total()),
            "examples": found.failed_examples.get(kind, []),
        }
        for kind, counts in sorted(found.verified.items())
    ]


def text_columns(found: Profile) -> list[str]:
    """Columns whose sampled values are mostly strings longer than a label."""
    columns = []
    for name in found.present:
        values = [r.get(name) for r in found.sample if isinstance(r.get(name), str)]
        if values and len(values) * 2 >= len(found.sample) and _mean_len(values) > 24:
            columns.append(name)
    return columns


def value_columns(found: Profile, most: int = 20) -> dict[str, Counter[str] | list[float]]:
    """Columns to plot as distributions: numbers (values) or few distinct labels (counts)."""
    out: dict[str, Counter[str] | list[float]] = {}
    texts = set(text_columns(found))
    for name in found.present:
        if name in texts:
            continue
        values = [r[name] for r in found.sample if r.get(name) is not None]
        numbers = [
            float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if numbers and len(numbers) == len(values):
            out[name] = numbers
            continue
        labels = Counter(str(v) for v in values if isinstance(v, str | bool | int))
        if labels and len(labels) <= most and len(labels) < len(values):
            out[name] = labels
    return out


def diversity(texts: list[str]) -> dict[str, float]:
    """Distinct-1/2 and self-BLEU of (at most ``DIVERSITY_TEXTS`` of) ``texts``."""
    some = texts[:DIVERSITY_TEXTS]
    return {
        "distinct_1": round(distinct_n(some, 1), 4),
        "distinct_2": round(distinct_n(some, 2), 4),
        "self_bleu": round(self_bleu(some), 4) if len(some) > 1 else 0.0,
    }


def lineage(path: Path, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each record's chain of first parents back to its source, from the checkpoints of the
    run that wrote ``path`` (only the record itself where there are none). One pass over the
    checkpoints per generation, keeping only the rows asked for."""
    shards = sorted(path.parent.glob(f".{path.stem}.run/checkpoints/*/chunk-*.jsonl"))
    chains = [[record] for record in records]
    while shards:
        wanted = {parent for chain in chains if (parent := _first_parent(chain[-1]))}
        rows = _rows_with_ids(shards, wanted) if wanted else {}
        grew = [
            chain.append(rows[p]) for chain in chains if (p := _first_parent(chain[-1])) in rows
        ]
        if not grew:
            break
    return chains


def _first_parent(row: dict[str, Any]) -> str | None:
    parents = row.get(META, {}).get("parents") or []
    return parents[0] if parents else None


def _rows_with_ids(shards: list[Path], wanted: set[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for shard in shards:
        with open(shard, encoding="utf-8") as handle:
            for line in handle:
                for row in json.loads(line).get("rows", []):
                    if isinstance(row.get(META), dict) and row[META].get("id") in wanted:
                        rows[row[META]["id"]] = row
    return rows


def _mean_len(values: list[str]) -> float:
    return sum(map(len, values)) / len(values)
