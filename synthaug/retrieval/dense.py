"""Dense retrieval: cosine similarity of L2-normalised sentence embeddings (MiniLM or an
OpenAI-compatible endpoint), texts and queries embedded through the request cache."""

from __future__ import annotations

import numpy as np

from ..llm.cache import RequestCache
from ..llm.embeddings import Embedder, embed_cached
from .base import Hit, Index


class DenseIndex(Index):
    """The embeddings of ``texts`` by ``embedder``; vectors kept in ``cache`` when given."""

    def __init__(self, texts: list[str], embedder: Embedder, cache: RequestCache | None = None):
        self.embedder, self.cache = embedder, cache
        self.vectors = embed_cached(embedder, texts, cache) if texts else np.zeros((0, 1))

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        k = min(k, len(self))
        if not queries or k <= 0:
            return [[] for _ in queries]
        similarity = embed_cached(self.embedder, queries, self.cache) @ self.vectors.T
        hits = []
        for row in similarity:
            best = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
            ranked = sorted(best.tolist(), key=lambda i: (-row[i], i))
            hits.append([Hit(i, float(row[i])) for i in ranked])
        return hits
