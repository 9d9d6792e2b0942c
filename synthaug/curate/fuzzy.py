"""Fuzzy decontamination: token edit similarity of benchmark items to aligned windows of a row.

Exact n-gram overlap misses a benchmark item as soon as every 13-gram of it carries an edit;
a typo or a substituted word every dozen words is enough (Yang et al., 2023, "Rethinking
Benchmark and Contamination for Language Models with Rephrased Samples", show that such
rewrites pass n-gram decontamination). This detector is synthaug's own (no paper prescribes
one); it compares word tokens, lower-cased and without punctuation (so case and punctuation
edits cost nothing), in three stages:

1. **Candidates** (vectorised over a batch of rows): every item is indexed by its rare words
   and word pairs (those in at most ``max_df`` of the items; an item with fewer than four
   such keys by its four rarest); a row becomes a candidate for an item when it holds at
   least ``min_shared`` (40 %) of the item's keys, and then at least that share of the item's
   distinct words. Surrounding text does not change which keys a row holds.
2. **Window**: the row span of about the item's length that holds most of the item's words,
   widened by half the item's length on each side (an item embedded in a long document is
   found where it is; the rest of the row is never compared).
3. **Similarity** (rapidfuzz): the item is cut into segments (sentences or lines, merged to at
   least six tokens); each segment is aligned to its best window inside the span
   (``partial_ratio_alignment`` on token sequences: Indel similarity, so a substituted word
   costs two operations of twice the segment's length), and the item's similarity is the
   token-weighted mean over its segments; reordered sentences align one by one. Where that
   falls short of ``threshold`` by less than 0.15, the span's unknown words one edit away
   from an item word of four or more letters count as that word (typos), and the alignment
   is computed again. Where it still falls short, the order-free overlap (the share of the
   item's tokens, as a multiset, in the densest item-length window) less 0.1 is used if
   higher: lines or sentences shuffled finer than the segments still match.

A row is contaminated by every item whose similarity reaches ``threshold`` (default 0.7). In
``benchmarks/bench_decontaminate.py`` (96 items of the eight built-in benchmarks planted with
typos, casing, punctuation, 10-20 % substituted words, reordered sentences, inside longer
text, and all of these at once) it finds 97-100 % of each kind (13-gram overlap: 31-100 %)
and removes none of 2,297 clean rows. Unlike MinHash near-duplicate
detection, the comparison is asymmetric: the item must be covered by the row, not the row by
the item, so a benchmark item inside a long document is found, and a row holding only part of
an item is not that item.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import BackendUnavailable
from .benchmarks import BenchmarkItem, Hit
from .text import words

_SEGMENT = re.compile(r"(?<=[.!?;:])\s+|\n+")
MIN_SEGMENT = 6  # tokens: shorter sentences or lines join their neighbour
MIN_INDEXED = 4  # an item is indexed by at least this many of its rarest tokens
TYPO_MARGIN = 0.15  # below threshold by less than this: retry with typo-tolerant tokens
TYPO_MIN_LENGTH = 4
ORDER_FREE_PENALTY = 0.1  # the order-free overlap counts 0.1 less than an aligned one


def _rapidfuzz():
    try:
        from rapidfuzz import fuzz, process
        from rapidfuzz.distance import Indel, Levenshtein
    except ImportError as exc:  # a core dependency; a broken install says so in one line
        raise BackendUnavailable(
            "fuzzy decontamination needs rapidfuzz: pip install rapidfuzz"
        ) from exc
    return fuzz, process, Indel, Levenshtein


def segments(text: str) -> list[list[str]]:
    """The word tokens of ``text`` in sentence or line segments of at least ``MIN_SEGMENT``
    tokens (a short segment joins the next one; a short tail joins the last)."""
    out: list[list[str]] = []
    pending: list[str] = []
    for part in _SEGMENT.split(text):
        pending += words(part)
        if len(pending) >= MIN_SEGMENT:
            out.append(pending)
            pending = []
    if pending:
        if out:
            out[-1] += pending
        else:
            out.append(pending)
    return out


class FuzzyDecontaminator:
    """An index of benchmark items by rare tokens, and rapidfuzz alignment of the candidates."""

    def __init__(
        self,
        items: list[BenchmarkItem],
        threshold: float = 0.7,
        min_shared: float = 0.4,
        max_df: float = 0.002,
    ):
        self.fuzz, self.process, self.indel, self.levenshtein = _rapidfuzz()
        self.items, self.threshold, self.min_shared = items, threshold, min_shared
        self.vocab: dict[str, int] = {}
        self.known = 1 << 62  # while the items' words are added
        cut = [segments(item.text) for item in items]
        sequences = self._ids([[t for part in parts for t in part] for parts in cut])
        self.known = len(self.vocab)  # ids from here on are words of rows only
        self.words = np.array(list(self.vocab), dtype=object)
        self.item_lengths = [len(sequence) for sequence in sequences]
        self._sequences, self._cuts = sequences, [[len(p) for p in parts] for parts in cut]
        self._segments: dict[int, list[list[int]]] = {}
        self._distinct: dict[int, np.ndarray] = {}
        self._index(sequences, max(8, int(max_df * len(items))))

    def item_segments(self, item: int) -> list[list[int]]:
        """The token ids of ``item`` in its segments (made when first needed)."""
        if item not in self._segments:
            ids, start, parts = self._sequences[item].tolist(), 0, []
            for size in self._cuts[item]:
                parts.append(ids[start : start + size])
                start += size
            self._segments[item] = parts
        return self._segments[item]

    def item_tokens(self, item: int) -> np.ndarray:
        """The distinct token ids of ``item``, sorted."""
        if item not in self._distinct:
            self._distinct[item] = np.unique(self._sequences[item])
        return self._distinct[item]

    def _features(self, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Word and word-pair keys of token sequences laid end to end, and the sequence
        (``rows``) each belongs to; a pair never spans two sequences, and words that no item
        has are left out."""
        width = self.known + 1
        known = ids < self.known
        pairs = known[:-1] & known[1:] & (rows[:-1] == rows[1:])
        bigrams = (ids[:-1][pairs] + 1) * width + ids[1:][pairs]
        return np.concatenate((ids[known], bigrams)), np.concatenate(
            (rows[known], rows[:-1][pairs])
        )

    def _index(self, sequences: list[np.ndarray], cap: int) -> None:
        """Postings from rare word and word-pair keys to the items holding them: each item is
        indexed by the keys in at most ``cap`` items, or else by its ``MIN_INDEXED`` rarest."""
        count = len(sequences)
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=count)
        ids = np.concatenate(sequences) if count else np.zeros(0, np.int64)
        features, owner = self._features(ids, np.repeat(np.arange(count), lengths))
        order = np.lexsort((features, owner))  # by item, then key; each (item, key) once
        features, owner = features[order], owner[order]
        first = np.ones(len(features), dtype=bool)
        first[1:] = (features[1:] != features[:-1]) | (owner[1:] != owner[:-1])
        features, owner = features[first], owner[first]
        _, inverse, frequency = np.unique(features, return_inverse=True, return_counts=True)
        counts = frequency[inverse]
        rare = counts <= cap
        sizes = np.bincount(owner, minlength=count)
        offsets = np.concatenate(([0], np.cumsum(sizes))).tolist()
        short = np.bincount(owner[rare], minlength=count) < np.minimum(MIN_INDEXED, sizes)
        for index in np.flatnonzero(short).tolist():
            start, end = offsets[index], offsets[index + 1]
            rare[start:end] = False
            rare[start + np.argsort(counts[start:end], kind="stable")[:MIN_INDEXED]] = True
        indexed = np.bincount(owner[rare], minlength=count)
        self.need = np.maximum(1, np.ceil(self.min_shared * indexed)).astype(np.int64)
        self.need[indexed == 0] = 1 << 40  # an item without words matches nothing
        features, owner = features[rare], owner[rare]
        order = np.lexsort((owner, features))
        features, self.indices = features[order], owner[order]
        self.feature_keys, starts = np.unique(features, return_index=True)
        self.indptr = np.append(starts, len(features)).astype(np.int64)

    def check(self, texts: Iterable[str]) -> list[list[Hit]]:
        """The fuzzy hits of each text (an empty list for a clean one)."""
        token_lists = [words(text) for text in texts]
        ids = self._ids(token_lists)
        hits: list[list[Hit]] = [[] for _ in token_lists]
        present: dict[int, np.ndarray] = {}
        for row, item in self._candidates(ids):
            if row not in present:
                present[row] = np.unique(ids[row])
            hit = self._verify(token_lists[row], ids[row], present[row], item)
            if hit is not None:
                hits[row].append(hit)
        for found in hits:
            found.sort(key=lambda h: -h.similarity)
        return hits

    def _ids(self, token_lists: list[list[str]]) -> list[np.ndarray]:
        """Token ids of each row; a word no item has gets an id of its own past the items'
        vocabulary (so two different unknown words never count as equal)."""
        flat = [token for tokens in token_lists for token in tokens]
        vocab = self.vocab
        new = set(flat).difference(vocab)
        if len(vocab) + len(new) > 4 * self.known + 1_000_000:  # a huge corpus: start afresh
            for word in list(vocab)[self.known :]:
                del vocab[word]
            new = set(flat).difference(vocab)
        vocab.update(zip(new, range(len(vocab), len(vocab) + len(new)), strict=True))
        ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
        ends = np.cumsum([len(tokens) for tokens in token_lists])
        return np.split(ids, ends[:-1]) if token_lists else []

    def _candidates(self, ids: Sequence[np.ndarray]) -> list[tuple[int, int]]:
        """(row, item) pairs where the row holds at least ``need`` of the item's index keys."""
        if not ids or not len(self.feature_keys):
            return []
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        if not lengths.sum():
            return []
        flat = np.concatenate(ids)
        rows = np.repeat(np.arange(len(ids), dtype=np.int64), lengths)
        features, owners_of = self._features(flat, rows)
        slots = np.minimum(np.searchsorted(self.feature_keys, features), len(self.feature_keys) - 1)
        hit = self.feature_keys[slots] == features
        width = len(self.feature_keys)
        pairs_found = np.unique(owners_of[hit] * width + slots[hit])
        rows, slots = pairs_found // width, pairs_found % width
        starts = self.indptr[slots]
        counts = self.indptr[slots + 1] - starts
        total = int(counts.sum())
        if not total:
            return []
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        owners = self.indices[offsets]
        items = len(self.items)
        keys, shared = np.unique(np.repeat(rows, counts) * items + owners, return_counts=True)
        found = keys[shared >= self.need[keys % items]]
        return list(zip((found // items).tolist(), (found % items).tolist(), strict=True))

    def _verify(
        self, tokens: list[str], ids: np.ndarray, present: np.ndarray, item: int
    ) -> Hit | None:
        distinct = self.item_tokens(item)
        slots = np.minimum(np.searchsorted(present, distinct), len(present) - 1)
        if np.count_nonzero(present[slots] == distinct) < self.min_shared * len(distinct):
            return None  # most of the item's words are missing: no alignment can reach it
        length = self.item_lengths[item]
        start, end = self._window(ids, distinct, length)
        span = ids[start:end].tolist()
        score, aligned = self._similarity(item, span)
        if self.threshold - TYPO_MARGIN <= score < self.threshold:
            span = self._typo_tolerant(tokens[start:end], span, item)
            score, aligned = self._similarity(item, span)
        if score < self.threshold:  # reordered sentences or lines: compare bags of tokens
            unordered = self._order_free(np.asarray(span), item) - ORDER_FREE_PENALTY
            if unordered > score:
                score, aligned = unordered, (0, len(span))
        if score < self.threshold:
            return None
        meta = self.items[item]
        evidence = " ".join(tokens[start + aligned[0] : start + aligned[1]])
        return Hit("fuzzy", meta.benchmark, meta.item_id, round(score, 4), evidence[:500])

    def _window(self, ids: np.ndarray, distinct: np.ndarray, length: int) -> tuple[int, int]:
        """The span of about ``length`` tokens holding most of the item's tokens, widened by
        half the item's length on each side."""
        if len(ids) <= 2 * length:
            return 0, len(ids)
        slots = np.minimum(np.searchsorted(distinct, ids), len(distinct) - 1)
        inside = (distinct[slots] == ids).astype(np.int64)
        running = np.concatenate(([0], np.cumsum(inside)))
        best = int(np.argmax(running[length:] - running[:-length]))
        return max(0, best - length // 2), min(len(ids), best + length + length // 2)

    def _similarity(self, item: int, span: list[int]) -> tuple[float, tuple[int, int]]:
        """The token-weighted mean of each segment's best alignment in ``span``, and the
        part of the span the alignments cover."""
        total = 0.0
        first, last = len(span), 0
        for segment in self.item_segments(item):
            if len(span) >= len(segment):
                alignment = self.fuzz.partial_ratio_alignment(segment, span)
                score = alignment.score / 100
                first, last = min(first, alignment.dest_start), max(last, alignment.dest_end)
            else:  # the row is shorter than the segment: its missing tokens count against it
                score = self.indel.normalized_similarity(segment, span)
                first, last = 0, len(span)
            total += score * len(segment)
        return total / max(1, self.item_lengths[item]), (min(first, last), last)

    def _order_free(self, span: np.ndarray, item: int) -> float:
        """The share of the item's tokens (as a multiset) found in the densest window of
        the item's length inside ``span``, in any order."""
        length = self.item_lengths[item]
        distinct, counts = np.unique(self._sequences[item], return_counts=True)
        if len(span) > length:
            slots = np.minimum(np.searchsorted(distinct, span), len(distinct) - 1)
            running = np.concatenate(([0], np.cumsum(distinct[slots] == span)))
            best = int(np.argmax(running[length:] - running[:-length]))
            span = span[best : best + length]
        found, held = np.unique(span, return_counts=True)
        slots = np.minimum(np.searchsorted(found, distinct), len(found) - 1)
        held = np.where(found[slots] == distinct, held[slots], 0)
        return float(np.minimum(counts, held).sum()) / max(1, length)

    def _typo_tolerant(self, tokens: list[str], span: list[int], item: int) -> list[int]:
        """``span`` with each token not in the item, but one edit away from an item token of
        at least ``TYPO_MIN_LENGTH`` letters, replaced by that token's id."""
        distinct = self.item_tokens(item)
        choices = {
            int(t): w
            for t, w in zip(distinct, self.words[distinct], strict=True)
            if len(w) >= TYPO_MIN_LENGTH
        }
        if not choices:
            return span
        inside = set(distinct.tolist())
        fixed = list(span)
        for position, (token, word) in enumerate(zip(span, tokens, strict=True)):
            if token in inside or len(word) < TYPO_MIN_LENGTH - 1:
                continue
            match = self.process.extractOne(
                word, choices, scorer=self.levenshtein.distance, score_cutoff=1
            )
            if match is not None:
                fixed[position] = match[2]
        return fixed
