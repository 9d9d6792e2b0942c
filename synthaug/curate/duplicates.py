"""Exact and near-duplicate detection with a keep policy.

Both detectors take documents in batches (with a preference: higher is kept
first, ties go to the earlier document) and ``resolve()`` to a map from each
dropped document to the kept one it duplicates. A document is dropped only if
a *kept* document is confirmed similar to it, so a chain of false positives
cannot merge unrelated documents into one mega-cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .minhash import MinHasher, band_keys, candidate_pairs, catch_probability, signature_similarity
from .text import NGramHasher, Normalization, words

Keep = Literal["first", "longest", "score"]


def preference(row: dict[str, Any], text: str, keep: Keep, score_column: str | None) -> float:
    """How strongly a row should be the one kept (ties go to the earlier row)."""
    if keep == "longest":
        return float(len(text))
    if keep == "score":
        value = row.get(score_column or "")
        return float(value) if isinstance(value, int | float) else float("-inf")
    return 0.0


@dataclass(frozen=True)
class Duplicate:
    """A dropped document's kept partner and their similarity."""

    partner: int
    similarity: float


class ExactDuplicates:
    """Documents whose normalised text is identical (a 128-bit blake2b key)."""

    def __init__(self, normalization: Normalization | None = None):
        self.normalization = normalization or Normalization()
        self._best: dict[bytes, tuple[float, int]] = {}
        self._keys: list[bytes] = []

    def add(self, texts: list[str], preferences: list[float] | None = None) -> None:
        for offset, text in enumerate(texts):
            doc = len(self._keys)
            key = hashlib.blake2b(self.normalization.apply(text).encode(), digest_size=16).digest()
            self._keys.append(key)
            preference = preferences[offset] if preferences else 0.0
            best = self._best.get(key)
            if best is None or preference > best[0]:
                self._best[key] = (preference, doc)

    def resolve(self) -> dict[int, Duplicate]:
        duplicates = {}
        for doc, key in enumerate(self._keys):
            kept = self._best[key][1]
            if kept != doc:
                duplicates[doc] = Duplicate(kept, 1.0)
        return duplicates


_EXACT_MARGIN = 0.15


@dataclass(frozen=True)
class NearDupConfig:
    """MinHash LSH settings.

    Defaults: word 5-gram shingles (datatrove, Data-Juicer, text-dedup),
    Jaccard threshold 0.8, 20 bands × 6 rows (120 permutations), which catches
    99.8 % of pairs exactly at 0.8 (``catch_probability``). Candidate pairs are
    confirmed by exact Jaccard of the shingle sets while at most
    ``exact_limit`` shingles are held (50 M ≈ 400 MB), then by the signatures.
    """

    threshold: float = 0.8
    ngram: int = 5
    bands: int = 20
    rows: int = 6
    seed: int = 1
    confirm: Literal["auto", "exact", "signature"] = "auto"
    exact_limit: int = 50_000_000

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def catch_at_threshold(self) -> float:
        return catch_probability(self.threshold, self.bands, self.rows)


class NearDuplicates:
    """MinHash LSH near-duplicate detection; memory is the signatures (plus shingles if exact)."""

    def __init__(self, config: NearDupConfig | None = None):
        self.config = config or NearDupConfig()
        self._hasher = NGramHasher(self.config.ngram)
        self._minhash = MinHasher(self.config.num_perm, self.config.seed)
        self._blocks: list[np.ndarray] = []
        self._preferences: list[float] = []
        self._shingles: list[np.ndarray] | None = [] if self.config.confirm != "signature" else None
        self._held = 0
        self._as_sets: set[int] = set()

    @property
    def confirmation(self) -> str:
        return "exact Jaccard" if self._shingles is not None else "MinHash signatures"

    def add(self, texts: list[str], preferences: list[float] | None = None) -> None:
        self.add_signed(*self.sign(texts), preferences)

    def sign(self, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The texts' MinHash signatures and shingle hashes (the work ``add`` does per text:
        it runs anywhere, e.g. on Ray workers, and gives the same values everywhere)."""
        shingles = self._hasher.batch([words(t) for t in texts])
        return self._minhash.signatures(shingles), shingles

    def add_signed(
        self,
        signatures: np.ndarray,
        shingles: list[np.ndarray],
        preferences: list[float] | None = None,
    ) -> None:
        """Add documents that ``sign`` has already signed, in input order."""
        self._blocks.append(signatures)
        self._preferences.extend(preferences or [0.0] * len(signatures))
        if self._shingles is not None:
            self._shingles.extend(shingles)
            self._held += sum(len(s) for s in shingles)
            if self.config.confirm == "auto" and self._held > self.config.exact_limit:
                self._shingles = None

    def resolve(self) -> dict[int, Duplicate]:
        if not self._blocks:
            return {}
        signatures = np.concatenate(self._blocks)
        self._blocks = [signatures]  # frees the blocks: memory is one signature matrix
        rank = _ranks(np.asarray(self._preferences))
        present = np.flatnonzero(signatures[:, 0] != np.uint32(0xFFFFFFFF))
        if not len(present):
            return {}
        reps, copies = self._group_identical(signatures, present, rank)
        keys = band_keys(signatures, self.config.bands, self.config.rows, reps)
        pairs = reps[candidate_pairs(keys)]
        estimate = signature_similarity(signatures, pairs)
        # 120 MinHash values estimate J = 0.8 with a standard error of ~0.037: a pair
        # estimated 0.15 below the threshold is over it with probability < 1e-4.
        margin = _EXACT_MARGIN if self._shingles is not None else 0.0
        plausible = estimate >= self.config.threshold - margin
        pairs, estimate = pairs[plausible], estimate[plausible]
        duplicates = _keep_by_rank(pairs, rank, self._similarity(pairs, estimate))
        return with_copies(duplicates, copies)

    def _group_identical(
        self, signatures: np.ndarray, present: np.ndarray, rank: np.ndarray
    ) -> tuple[np.ndarray, dict[int, tuple[int, float]]]:
        """One representative (best rank) per identical signature; the others map to it."""
        whole = band_keys(signatures, 1, signatures.shape[1], present)[:, 0]
        order = np.lexsort((rank[present], whole))
        ordered, docs = whole[order], present[order]
        first_of_run = np.concatenate(([True], ordered[1:] != ordered[:-1]))
        reps = docs[first_of_run].tolist()
        run_start = np.maximum.accumulate(np.where(first_of_run, np.arange(len(docs)), 0))
        copies: dict[int, tuple[int, float]] = {}
        for k in np.flatnonzero(~first_of_run).tolist():
            doc, rep = int(docs[k]), int(docs[run_start[k]])
            sim = self._pair_similarity(signatures, doc, rep)
            if sim >= self.config.threshold:
                copies[doc] = (rep, sim)
            else:
                reps.append(doc)
        return np.asarray(sorted(reps), dtype=np.int64), copies

    def _shingle_set(self, doc: int) -> np.ndarray:
        """A document's distinct shingles, sorted (computed on first use: few documents need it)."""
        assert self._shingles is not None
        if doc not in self._as_sets:
            self._shingles[doc] = _sorted_distinct(self._shingles[doc])
            self._as_sets.add(doc)
        return self._shingles[doc]

    def _pair_similarity(self, signatures: np.ndarray, a: int, b: int) -> float:
        if self._shingles is None:
            return float((signatures[a] == signatures[b]).mean())
        return _jaccard(self._shingle_set(a), self._shingle_set(b))

    def _similarity(self, pairs: np.ndarray, estimate: np.ndarray) -> Callable[[int], float | None]:
        """Pair k's confirmed similarity, or None when it is below the threshold."""
        threshold = self.config.threshold
        if self._shingles is None:
            return lambda k: float(estimate[k])
        left, right = pairs[:, 0].tolist(), pairs[:, 1].tolist()

        def exact(k: int) -> float | None:
            value = _jaccard(self._shingle_set(left[k]), self._shingle_set(right[k]))
            return value if value >= threshold else None

        return exact


def with_copies(
    duplicates: dict[int, Duplicate], copies: dict[int, tuple[int, float]]
) -> dict[int, Duplicate]:
    """``duplicates`` plus each copy of an identical signature: dropped for its representative,
    or for the representative's partner when the representative itself is dropped."""
    for doc, (rep, sim) in copies.items():
        if rep in duplicates:
            rep_dup = duplicates[rep]
            duplicates[doc] = Duplicate(rep_dup.partner, rep_dup.similarity)
        else:
            duplicates[doc] = Duplicate(rep, sim)
    return duplicates


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique`` without its per-call overhead (this runs once per candidate document)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted arrays of distinct values."""
    if len(a) > len(b):
        a, b = b, a
    slots = np.searchsorted(b, a)
    found = slots < len(b)
    shared = int(np.count_nonzero(b[slots[found]] == a[found]))
    return shared / (len(a) + len(b) - shared)


def _ranks(preferences: np.ndarray) -> np.ndarray:
    """Rank 0 is kept first: highest preference, then earliest document."""
    order = np.lexsort((np.arange(len(preferences)), -preferences))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _keep_by_rank(
    pairs: np.ndarray, rank: np.ndarray, similarity: Callable[[int], float | None]
) -> dict[int, Duplicate]:
    """Walk documents best-rank first; drop one if a kept, better-ranked document matches it.

    ``similarity(k)`` is asked only while pair k can still decide something, so a
    large cluster costs about one confirmation per member, not one per pair.
    """
    if not len(pairs):
        return {}
    swap = rank[pairs[:, 0]] > rank[pairs[:, 1]]
    better = np.where(swap, pairs[:, 1], pairs[:, 0])
    worse = np.where(swap, pairs[:, 0], pairs[:, 1])
    order = np.lexsort((rank[better], rank[worse]))
    duplicates: dict[int, Duplicate] = {}
    for k, w, b in zip(order.tolist(), worse[order].tolist(), better[order].tolist(), strict=True):
        if w in duplicates or b in duplicates:
            continue
        score = similarity(k)
        if score is not None:
            duplicates[w] = Duplicate(b, float(score))
    return duplicates
