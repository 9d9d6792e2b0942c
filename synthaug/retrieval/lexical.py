"""Okapi BM25 through ``bm25s`` (Lü, 2024): a sparse matrix of precomputed scores, so a query
costs a few array sums.

Scoring is bm25s' ``lucene`` variant, ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` and
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))`` summed over the query's tokens.
Tokens are bm25s' own (lowercase ``\\w\\w+``), English stop words removed unless
``stopwords=None``. Texts sharing no token with a query are not returned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SynthaugError
from .base import Hit, Index


def _bm25s() -> Any:
    try:
        import bm25s
    except ImportError as exc:
        raise SynthaugError(
            "BM25 retrieval needs the ingest extra: pip install 'synthaug[ingest]'"
        ) from exc
    return bm25s


class BM25Index(Index):
    """BM25 over ``texts``; ``k1`` and ``b`` default to bm25s' (and Lucene's) 1.5 and 0.75."""

    def __init__(
        self, texts: list[str], k1: float = 1.5, b: float = 0.75, stopwords: str | None = "en"
    ):
        bm25s = _bm25s()
        self.stopwords, self._size = stopwords, len(texts)
        self.retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        if texts:
            self.retriever.index(self.tokenize(texts), show_progress=False)

    def __len__(self) -> int:
        return self._size

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        return _bm25s().tokenize(
            texts, stopwords=self.stopwords, return_ids=False, show_progress=False
        )

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        k = min(k, self._size)
        if not queries or k <= 0:
            return [[] for _ in queries]
        tokens = self.tokenize(queries)
        ids, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        return [
            _ranked(row_ids, row_scores) for row_ids, row_scores in zip(ids, scores, strict=True)
        ]


def _ranked(ids: np.ndarray, scores: np.ndarray) -> list[Hit]:
    """Positive-score hits, best first, ties by index."""
    pairs = [(i, s) for i, s in zip(ids.tolist(), scores.tolist(), strict=True) if s > 0]
    return [Hit(i, s) for i, s in sorted(pairs, key=lambda p: (-p[1], p[0]))]
