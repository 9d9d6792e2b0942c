"""Fast ROUGE-L (Lin 2004) for the Self-Instruct novelty filter.

Self-Instruct (Wang et al. 2023) keeps a generated instruction only when its
ROUGE-L F1 against every instruction already in the pool is at most 0.7. Scores
match Google's ``rouge_score`` defaults (``RougeScorer(["rougeL"])``, no stemmer):
the same tokenizer and ``F = 2PR / (P + R)``. The LCS is computed with the
bit-parallel algorithm of Allison & Dix (1986) / Crochemore et al. (2001), and
:class:`RougePool` prunes pool members with a token-overlap upper bound so the
filter stays fast with pools of tens of thousands.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from itertools import islice

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Tokens as ``rouge_score``'s default tokenizer without stemming gives them.

    Lowercase (``str.lower``), replace every run of characters outside ``[a-z0-9]``
    with a space and split on whitespace, so non-ASCII letters vanish.
    """
    return _NON_ALNUM.sub(" ", text.lower()).split()


def _position_masks(seq: Sequence[Hashable]) -> dict[Hashable, int]:
    """Map each token of ``seq`` to the bitmask of the positions where it occurs."""
    masks: dict[Hashable, int] = {}
    for i, token in enumerate(seq):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def _lcs_bits(a: Iterable[Hashable], masks: dict[Hashable, int], m: int) -> int:
    """LCS length of ``a`` and a length-``m`` sequence given by its position masks."""
    full = (1 << m) - 1
    s = full
    get = masks.get
    for token in a:
        u = s & get(token, 0)
        s = (s + u) | (s - u)
    return m - (s & full).bit_count()


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence of ``a`` and ``b`` (bit-parallel)."""
    return _lcs_bits(a, _position_masks(b), len(b))


def _f1(lcs: int, n_candidate: int, n_reference: int) -> float:
    """ROUGE-L F-measure exactly as ``rouge_score`` computes it (0 when LCS is 0)."""
    if lcs == 0:
        return 0.0
    precision = lcs / n_candidate
    recall = lcs / n_reference
    return 2 * precision * recall / (precision + recall)


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 of candidate ``a`` against reference ``b`` (symmetric; 0 if either is empty)."""
    ta, tb = tokenize(a), tokenize(b)
    if not ta or not tb:
        return 0.0
    return _f1(lcs_length(ta, tb), len(ta), len(tb))


class RougePool:
    """A growing pool of texts scored by ROUGE-L F1 against new candidates.

    Tokens are mapped to small ints once; each member keeps its length and the
    position bitmasks of its tokens, and an inverted index (token -> members,
    layered by occurrence count) gives each candidate's multiset token overlap
    with the members. Since ``LCS <= overlap``, ``F1 <= 2 * overlap / (m + n)``,
    which lets :meth:`max_score` and :meth:`most_similar` skip most members;
    members sharing no token score 0.
    """

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._vocab: dict[str, int] = {}
        self._texts: list[str] = []
        self._lengths: list[int] = []
        self._masks: list[dict[Hashable, int]] = []
        # token id -> layers; layer k lists the members holding the token more than k times
        self._index: dict[int, list[list[int]]] = {}
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, text: str) -> None:
        """Append ``text`` to the pool."""
        vocab = self._vocab
        ids = [vocab.setdefault(token, len(vocab)) for token in tokenize(text)]
        member = len(self._texts)
        self._texts.append(text)
        self._lengths.append(len(ids))
        self._masks.append(_position_masks(ids))
        for token, count in Counter(ids).items():
            layers = self._index.setdefault(token, [])
            layers.extend([] for _ in range(count - len(layers)))
            for layer in layers[:count]:
                layer.append(member)

    def _encode(self, text: str) -> list[int]:
        """Token ids of ``text``; tokens the pool has never seen become -1."""
        get = self._vocab.get
        return [get(token, -1) for token in tokenize(text)]

    def _bounds(self, ids: list[int], floor: float) -> list[tuple[float, int]]:
        """``(F1 upper bound, member)`` for the members whose bound exceeds ``floor``, best first.

        A bound above ``floor`` needs an overlap above ``floor * n / (2 - floor)``
        (the bound peaks when the member is no longer than the overlap), so only
        the posting lists of the query's rarest ``n - min_overlap + 1`` token
        occurrences are scanned (prefix filtering); the overlap with the common
        rest is then added for the members found whose length still allows it.
        """
        n = len(ids)
        if floor >= 1.0:
            return []
        min_overlap = max(1, math.floor(floor * n / (2 - floor) - 1e-9) + 1)
        index = self._index
        occurrences: list[tuple[Sequence[int], int, int]] = []  # (posting list, token, k)
        for token, count in Counter(ids).items():
            layers = index.get(token, [])
            occurrences.extend(
                (layers[k] if k < len(layers) else (), token, k) for k in range(count)
            )
        occurrences.sort(key=lambda occurrence: len(occurrence[0]))
        cut = n - min_overlap + 1
        overlaps: Counter[int] = Counter()
        for posting, _, _ in occurrences[:cut]:
            overlaps.update(posting)
        rest = [(token, k) for posting, token, k in occurrences[cut:] if posting]
        most_from_rest = len(rest)
        slack = floor * n - 1e-9
        masks, lengths = self._masks, self._lengths
        bounds = []
        for j, prefix_overlap in overlaps.items():
            m = lengths[j]
            if 2 * (prefix_overlap + most_from_rest) - floor * m < slack:
                continue  # even if all the rest is shared, 2 * overlap / (n + m) <= floor
            mask = masks[j]
            overlap = prefix_overlap + sum(mask.get(t, 0).bit_count() > k for t, k in rest)
            if overlap >= min_overlap and (bound := _f1(overlap, n, m)) > floor:
                bounds.append((bound, j))
        bounds.sort(reverse=True)
        return bounds

    def _score(self, ids: list[int], member: int) -> float:
        """ROUGE-L F1 of the encoded candidate ``ids`` against one member."""
        m = self._lengths[member]
        return _f1(_lcs_bits(ids, self._masks[member], m), len(ids), m)

    def scores(self, text: str) -> list[float]:
        """ROUGE-L F1 of ``text`` against every member, in insertion order."""
        ids = self._encode(text)
        return [self._score(ids, j) for j in range(len(self._texts))]

    def max_score(self, text: str, stop_above: float | None = None) -> float:
        """Highest ROUGE-L F1 of ``text`` against the pool (0.0 for an empty pool).

        With ``stop_above`` (Self-Instruct uses 0.7) the search ends at the first
        score above it, and members whose bound cannot exceed it are skipped: the
        result is above ``stop_above`` exactly when the true maximum is, but it is
        then the first such score found, and otherwise only a lower bound of the
        true maximum.
        """
        ids = self._encode(text)
        best = 0.0
        for bound, member in self._bounds(ids, 0.0 if stop_above is None else stop_above):
            if bound <= best:
                break
            score = self._score(ids, member)
            if score > best:
                best = score
                if stop_above is not None and score > stop_above:
                    break
        return best

    def most_similar(self, text: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` members most similar to ``text`` with their scores, ties by insertion order."""
        if k <= 0:
            return []
        ids = self._encode(text)
        heap: list[tuple[float, int]] = []  # (score, -member): the root is the weakest kept
        for bound, member in self._bounds(ids, 0.0):
            if len(heap) == k and bound < heap[0][0]:
                break
            item = (self._score(ids, member), -member)
            if len(heap) < k:
                heapq.heappush(heap, item)
            else:
                heapq.heappushpop(heap, item)
        top = sorted((-score, -neg_member) for score, neg_member in heap)
        ranked = [(self._texts[member], -neg_score) for neg_score, member in top]
        if len(ranked) < k:  # members sharing no token score 0 and follow in insertion order
            kept = {member for _, member in top}
            zeros = (j for j in range(len(self._texts)) if j not in kept)
            ranked.extend((self._texts[j], 0.0) for j in islice(zeros, k - len(ranked)))
        return ranked
