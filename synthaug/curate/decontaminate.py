"""Benchmark decontamination: word n-grams, substrings, fuzzy alignment, or meaning.

Modes (``synthaug decontaminate --mode``, the ``decontaminate`` step's ``mode``):

- ``overlap`` (GPT-3, Brown et al. 2020; lm-evaluation-harness; NeMo Curator): a record is
  contaminated if it shares any 13-gram with a benchmark item; an item shorter than 13 words
  must appear whole. On lower-cased word tokens, so case, whitespace and punctuation edits do
  not hide a match.
- ``coverage`` (PaLM, Chowdhery et al. 2022; Llama 3 uses per-benchmark 8-gram ratios):
  contaminated if at least ``threshold`` (PaLM: 70 %) of an item's distinct 8-grams occur in
  the record.
- ``substring`` (StarCoder's decontamination, kept by Magicoder for OSS-Instruct): the
  record, lower-cased, contains one of the item's strings, lower-cased (HumanEval docstrings
  and solutions, MBPP texts and solutions, GSM8K questions...; see ``curate.benchmarks``).
- ``fuzzy`` (``curate.fuzzy``): token edit similarity of the item to aligned windows of the
  record, robust to typos, case, punctuation, substituted and swapped words, reordered
  sentences and surrounding text.
- ``semantic`` (``curate.llm_decontaminator``, Yang et al. 2023): the nearest benchmark items
  by embedding, each judged "same question?" by an LLM.
- ``all``: overlap, fuzzy and semantic together; a record is contaminated if any fires.

Every hit names its detector, the benchmark, the item id, a similarity and the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

import numpy as np

from .benchmarks import (  # noqa: F401  (the benchmark API, re-exported)
    BUILTIN,
    DEFAULT_BENCHMARKS,
    BenchmarkItem,
    Hit,
    load_benchmark,
    load_benchmarks,
)
from .text import NGramHasher, words

DEFAULT_N = {"overlap": 13, "coverage": 8}
Mode = Literal["overlap", "coverage", "substring", "fuzzy", "semantic", "all"]
MODES: tuple[str, ...] = ("overlap", "coverage", "substring", "fuzzy", "semantic", "all")
ALL = ("overlap", "fuzzy", "semantic")  # the detectors of mode all


class SubstringDecontaminator:
    """StarCoder's rule as Magicoder applies it: the lower-cased record contains one of the
    lower-cased strings of an item (every string is searched; the first found is the evidence)."""

    def __init__(self, items: list[BenchmarkItem]):
        self.items = items
        self.targets = [
            (index, target.lower())
            for index, item in enumerate(items)
            for target in dict.fromkeys(item.targets)
            if target.strip()
        ]

    def check(self, texts: Iterable[str]) -> list[list[Hit]]:
        out = []
        for text in texts:
            lowered, found = text.lower(), {}
            for index, target in self.targets:
                if index not in found and target in lowered:
                    found[index] = target
            out.append(
                [
                    Hit("substring", self.items[i].benchmark, self.items[i].item_id, 1.0, t[:500])
                    for i, t in found.items()
                ]
            )
        return out


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
        lengths = [len(tokens) for tokens in token_lists]
        # word hashes do not depend on n: hash each batch's words once for every length
        words_hashed = self._hasher(self.n).word_hashes(
            [token for tokens in token_lists for token in tokens]
        )
        for length, keys in self._sorted.items():
            usable = [i for i, count in enumerate(lengths) if count >= length]
            every = self._hasher(length).grams(words_hashed, lengths)
            grams = [every[i] for i in usable]
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
            out.append(Hit(self.mode, meta.benchmark, meta.item_id, round(coverage, 4), example))
        return out


class Detector(Protocol):
    def check(self, texts: Iterable[str]) -> list[list[Hit]]: ...


def lexical_detectors(
    items: list[BenchmarkItem],
    mode: str,
    n: int | None = None,
    threshold: float = 0.7,
    fuzzy_threshold: float = 0.7,
) -> list[Detector]:
    """The detectors of ``mode`` that need no model: n-gram, substring and fuzzy (semantic,
    which embeds and calls a judge, is built apart: ``llm_decontaminator``)."""
    detectors: list[Detector] = []
    if mode in ("overlap", "coverage", "all"):
        ngram_mode = "coverage" if mode == "coverage" else "overlap"
        detectors.append(Decontaminator(items, ngram_mode, n, threshold))
    if mode == "substring":
        detectors.append(SubstringDecontaminator(items))
    if mode in ("fuzzy", "all"):
        from .fuzzy import FuzzyDecontaminator

        detectors.append(FuzzyDecontaminator(items, fuzzy_threshold))
    return detectors
