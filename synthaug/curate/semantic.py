"""SemDeDup (Abbas et al. 2023, arXiv 2303.09540): semantic deduplication by embeddings.

Embed every document (unit vectors), cluster with k-means, then inside each
cluster order the members by distance to the centroid, farthest first. A
member is removed when its cosine similarity to any member earlier in that
order exceeds ``1 - epsilon``; so of a group of near-identical meanings the
one farthest from the centroid is kept. ``epsilon`` defaults to NeMo Curator's
0.01; the paper sweeps it to reach a target kept fraction. The number of
clusters defaults to √n (at least 1).

``order="input"`` compares the members of a cluster in input order instead, so
the earliest of a group stays: the rule of Magpie's repetition detection (the
lowest index represents its group). With one cluster this is the exact
all-pairs rule: a document is removed when any earlier one is more similar than
``1 - epsilon``, whether or not that earlier one was itself removed.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from ..llm.cache import RequestCache
from ..llm.embeddings import Embedder, embed_cached
from .cluster import assign, kmeans
from .duplicates import Duplicate

_BLOCK = 4096  # rows of a cluster's similarity matrix computed at once
Order = Literal["centroid", "input"]


def default_clusters(count: int) -> int:
    return max(1, round(math.sqrt(count)))


def semdedup(
    vectors: np.ndarray,
    epsilon: float = 0.01,
    clusters: int | None = None,
    seed: int = 0,
    order: Order = "centroid",
) -> dict[int, Duplicate]:
    """Each removed document's most similar earlier member of its cluster (earlier: farther
    from the centroid, or with ``order="input"`` earlier in the input)."""
    if len(vectors) < 2:
        return {}
    centres = kmeans(vectors, clusters or default_clusters(len(vectors)), seed)
    labels = assign(vectors, centres)
    removed: dict[int, Duplicate] = {}
    for cluster in np.unique(labels).tolist():
        members = np.flatnonzero(labels == cluster)
        if len(members) < 2:
            continue
        if order == "input":
            ordered = members  # np.flatnonzero: ascending, the input order
        else:
            closeness = vectors[members] @ centres[cluster]
            ordered = members[np.argsort(closeness, kind="stable")]  # farthest first
        points = vectors[ordered].astype(np.float32)
        for start in range(0, len(ordered), _BLOCK):
            block = points[start : start + _BLOCK]
            similarity = block @ points[: start + len(block)].T
            for row in range(len(block)):
                position = start + row
                if position == 0:
                    continue
                earlier = similarity[row, :position]
                best = int(np.argmax(earlier))
                if earlier[best] > 1 - epsilon:
                    removed[int(ordered[position])] = Duplicate(
                        int(ordered[best]), float(earlier[best])
                    )
    return removed


class SemanticDuplicates:
    """The detector interface (``add`` batches, ``resolve``) over SemDeDup; keeps only vectors."""

    def __init__(
        self,
        embedder: Embedder,
        cache: RequestCache | None = None,
        epsilon: float = 0.01,
        clusters: int | None = None,
        order: Order = "centroid",
    ):
        self.embedder, self.cache, self.epsilon, self.clusters = embedder, cache, epsilon, clusters
        self.order = order
        self._blocks: list[np.ndarray] = []

    def add(self, texts: list[str], preferences: list[float] | None = None) -> None:
        """Embed ``texts`` now (``order`` decides which copy stays, not preferences)."""
        if texts:
            self._blocks.append(embed_cached(self.embedder, texts, self.cache))

    def resolve(self) -> dict[int, Duplicate]:
        if not self._blocks:
            return {}
        vectors = np.concatenate(self._blocks)
        return semdedup(vectors, self.epsilon, self.clusters, order=self.order)
