"""Benchmark decontamination by word n-gram overlap.

Two modes, on lower-cased word tokens (so case, whitespace and punctuation
edits do not hide a match):

- ``overlap`` (GPT-3, Brown et al. 2020; lm-evaluation-harness; NeMo
  Curator): a record is contaminated if it shares any 13-gram with a benchmark
  item; an item shorter than 13 words must appear whole.
- ``coverage`` (PaLM, Chowdhery et al. 2022; Llama 3 uses per-benchmark
  8-gram ratios): contaminated if at least ``threshold`` (PaLM: 70 %) of an
  item's distinct 8-grams occur in the record.

Every hit names the benchmark, the item id and a matching n-gram.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import InputError
from ..io import read_records
from .text import NGramHasher, words

DEFAULT_N = {"overlap": 13, "coverage": 8}


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    text: str


@dataclass(frozen=True)
class Hit:
    benchmark: str
    item_id: str
    ngram: str
    coverage: float


def _humaneval(record: dict[str, Any]) -> tuple[str, str]:
    return record["task_id"], record["prompt"] + record["canonical_solution"]


def _mt_bench(record: dict[str, Any]) -> tuple[str, str]:
    return str(record["question_id"]), "\n".join(record["turns"])


BUILTIN = {"humaneval": ("humaneval.jsonl", _humaneval), "mt_bench": ("mt_bench.jsonl", _mt_bench)}


def load_benchmark(
    spec: str, fields: list[str] | None = None, id_field: str | None = None
) -> list[BenchmarkItem]:
    """A built-in benchmark by name, or a JSONL/CSV/... file whose ``fields`` hold the item text."""
    if spec in BUILTIN:
        filename, extract = BUILTIN[spec]
        path = resources.files("synthaug") / "data" / "benchmarks" / filename
        return [BenchmarkItem(spec, *extract(r)) for r in read_records(Path(str(path)))]
    if not Path(spec).exists():
        raise InputError(spec, f"unknown benchmark: not a file, nor one of {', '.join(BUILTIN)}")
    if not fields:
        raise InputError(spec, "a benchmark file needs its text field(s) (--benchmark-fields)")
    name = Path(spec).stem
    items = []
    required = [*fields, id_field] if id_field else fields
    for index, record in enumerate(read_records(spec, required=required)):
        text = "\n".join(_as_text(record[f]) for f in fields)
        items.append(BenchmarkItem(name, str(record[id_field]) if id_field else str(index), text))
    return items


def _as_text(value: Any) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


class Decontaminator:
    """An n-gram index over benchmark items, checked against batches of texts."""

    def __init__(
        self,
        items: list[BenchmarkItem],
        mode: Literal["overlap", "coverage"] = "overlap",
        n: int | None = None,
        threshold: float = 0.7,
    ):
        self.items, self.mode, self.threshold = items, mode, threshold
        self.n = n or DEFAULT_N[mode]
        self._hashers: dict[int, NGramHasher] = {}
        self._owners: dict[int, dict[int, list[int]]] = {}  # length -> n-gram hash -> items
        self._distinct: list[int] = []
        for index, item in enumerate(items):
            tokens = words(item.text)
            length = min(len(tokens), self.n)
            if not length:
                self._distinct.append(0)
                continue
            grams = np.unique(self._hasher(length).hashes(tokens))
            self._distinct.append(len(grams))
            table = self._owners.setdefault(length, {})
            for gram in grams.tolist():
                table.setdefault(gram, []).append(index)
        self._sorted = {
            length: np.fromiter(table, dtype=np.uint64, count=len(table))
            for length, table in self._owners.items()
        }
        for keys in self._sorted.values():
            keys.sort()

    def _hasher(self, length: int) -> NGramHasher:
        if length not in self._hashers:
            self._hashers[length] = NGramHasher(length)
        return self._hashers[length]

    def check(self, texts: Iterable[str]) -> list[list[Hit]]:
        """The hits of each text (an empty list for a clean one); vectorised over the batch."""
        token_lists = [words(t) for t in texts]
        hits: list[dict[int, tuple[set[int], str]]] = [{} for _ in token_lists]
        for length, keys in self._sorted.items():
            usable = [i for i, tokens in enumerate(token_lists) if len(tokens) >= length]
            grams = self._hasher(length).batch([token_lists[i] for i in usable])
            if not grams:
                continue
            flat = np.concatenate(grams)
            slots = np.minimum(np.searchsorted(keys, flat), len(keys) - 1)
            found = np.flatnonzero(keys[slots] == flat)
            if not len(found):
                continue
            ends = np.cumsum([len(g) for g in grams])
            owners = np.searchsorted(ends, found, side="right")
            for position, owner in zip(found.tolist(), owners.tolist(), strict=True):
                doc = usable[owner]
                start = position - (ends[owner] - len(grams[owner]))
                gram = int(flat[position])
                example = " ".join(token_lists[doc][start : start + length])
                for item in self._owners[length][gram]:
                    hits[doc].setdefault(item, (set(), example))[0].add(gram)
        return [self._report(found) for found in hits]

    def _report(self, found: dict[int, tuple[set[int], str]]) -> list[Hit]:
        out = []
        for item, (shared, example) in sorted(found.items()):
            coverage = len(shared) / self._distinct[item]
            if self.mode == "coverage" and coverage < self.threshold:
                continue
            meta = self.items[item]
            out.append(Hit(meta.benchmark, meta.item_id, example, round(coverage, 4)))
        return out
