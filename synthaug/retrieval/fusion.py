"""Hybrid retrieval by reciprocal rank fusion (Cormack, Clarke & Büttcher, 2009): a text's
score is the sum over the rankings of ``1 / (c + rank)`` (rank 1-based, ``c`` = 60 as in the
paper), so a text ranked well by both BM25 and embeddings comes first."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Hit, Index

RRF_C = 60


def reciprocal_rank_fusion(rankings: Sequence[list[Hit]], k: int, c: int = RRF_C) -> list[Hit]:
    """The ``k`` best texts over ``rankings`` by RRF score, ties by index."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.index] = fused.get(hit.index, 0.0) + 1.0 / (c + rank)
    best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [Hit(index, score) for index, score in best]


class HybridIndex(Index):
    """RRF of ``parts`` (e.g. BM25 and dense), each asked for ``depth`` x ``k`` candidates."""

    def __init__(self, parts: Sequence[Index], depth: int = 4, c: int = RRF_C):
        self.parts, self.depth, self.c = list(parts), depth, c

    def __len__(self) -> int:
        return len(self.parts[0])

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        per_part = [part.search(queries, k * self.depth) for part in self.parts]
        return [
            reciprocal_rank_fusion([ranks[q] for ranks in per_part], k, self.c)
            for q in range(len(queries))
        ]
