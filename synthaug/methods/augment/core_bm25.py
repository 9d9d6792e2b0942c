"""Okapi BM25 (Robertson & Zaragoza, 2009) over a small in-memory corpus, for CORE's retrieval.

Score of document d for query q: sum over the query's terms t of
``idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))`` with
``idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))`` (the non-negative form Lucene uses).
Tokens are ROUGE's (lowercase ASCII letters and digits).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from ...quality.rouge import tokenize


class BM25:
    """An index of ``documents``; ``k1`` and ``b`` default to the usual 1.5 and 0.75."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self._tfs = [Counter(tokenize(doc)) for doc in documents]
        self._lengths = [sum(tf.values()) for tf in self._tfs]
        self._avgdl = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        df: Counter[str] = Counter()
        for tf in self._tfs:
            df.update(tf.keys())
        n = len(self._tfs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._postings: dict[str, list[int]] = {}
        for i, tf in enumerate(self._tfs):
            for term in tf:
                self._postings.setdefault(term, []).append(i)

    def __len__(self) -> int:
        return len(self._tfs)

    def scores(self, query: str) -> dict[int, float]:
        """Document index -> score, for the documents sharing a term with ``query``."""
        k1, b, avgdl = self.k1, self.b, self._avgdl or 1.0
        out: dict[int, float] = {}
        for term in set(tokenize(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for i in self._postings[term]:
                tf = self._tfs[i][term]
                norm = tf + k1 * (1 - b + b * self._lengths[i] / avgdl)
                out[i] = out.get(i, 0.0) + idf * tf * (k1 + 1) / norm
        return out

    def top(self, query: str, k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """The ``k`` best (index, score) pairs among ``allowed`` (all when None), best first,
        ties by index; documents sharing no term with the query are not returned."""
        scored = self.scores(query).items()
        ranked = sorted(
            ((i, s) for i, s in scored if allowed is None or i in allowed),
            key=lambda item: (-item[1], item[0]),
        )
        return ranked[:k]
