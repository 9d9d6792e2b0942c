"""Cluster-based pruning of redundant synthetic data (Tsai et al. 2024, "Code Less,
Align More", arXiv 2407.05040).

Embed, optionally reduce dimension with PCA, cluster with k-means, then keep
the same share of every cluster, chosen by a metric:

- ``diversity``: farthest-point sampling inside the cluster (start from the
  member nearest the centroid, then repeatedly take the member farthest from
  those taken);
- ``density``: keep the members in the sparsest regions, by a Gaussian kernel
  density over the cluster's members (bandwidth = median pairwise distance).

The paper reports that 10 % of synthetic code data keeps most benchmark
performance; ``fraction`` defaults to 0.1.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .cluster import assign, kmeans


def pca(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Project onto the top ``dims`` principal components, re-normalised to unit length."""
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[:dims].T
    norms = np.linalg.norm(reduced, axis=1, keepdims=True)
    return reduced / np.where(norms == 0, 1, norms)


def prune(
    vectors: np.ndarray,
    fraction: float = 0.1,
    metric: Literal["diversity", "density"] = "diversity",
    clusters: int | None = None,
    dims: int | None = None,
    seed: int = 0,
) -> list[int]:
    """Indices kept: ``ceil(fraction × size)`` of each k-means cluster."""
    if not len(vectors):
        return []
    if dims and dims < vectors.shape[1]:
        vectors = pca(vectors, dims)
    k = clusters or max(1, round(math.sqrt(len(vectors))))
    centres = kmeans(vectors, k, seed)
    labels = assign(vectors, centres)
    kept: list[int] = []
    for cluster in np.unique(labels).tolist():
        members = np.flatnonzero(labels == cluster)
        budget = math.ceil(fraction * len(members))
        points = vectors[members]
        if metric == "diversity":
            chosen = _farthest_points(points, centres[cluster], budget)
        else:
            chosen = np.argsort(_density(points), kind="stable")[:budget].tolist()
        kept.extend(members[chosen].tolist())
    return sorted(kept)


def _farthest_points(points: np.ndarray, centre: np.ndarray, budget: int) -> list[int]:
    chosen = [int(np.argmax(points @ centre))]
    nearest = 1 - points @ points[chosen[0]]
    while len(chosen) < budget:
        nearest[chosen] = -1
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, 1 - points @ points[pick])
    return chosen


def _density(points: np.ndarray) -> np.ndarray:
    distance = np.clip(1 - points @ points.T, 0, None)
    off_diagonal = distance[~np.eye(len(points), dtype=bool)]
    bandwidth = float(np.median(off_diagonal)) if len(off_diagonal) else 1.0
    return np.exp(-((distance / (bandwidth or 1.0)) ** 2)).sum(axis=1)
