"""Spherical k-means (cosine) for unit vectors, with k-means++ seeding."""

from __future__ import annotations

import numpy as np

_SEEDING_SAMPLE = 20_000


def kmeans(vectors: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> np.ndarray:
    """Centres of spherical k-means; k-means++ seeding on a sample of at most 20,000 points."""
    rng = np.random.default_rng(seed)
    pool = vectors
    if len(vectors) > _SEEDING_SAMPLE:
        pool = vectors[rng.choice(len(vectors), _SEEDING_SAMPLE, replace=False)]
    chosen = [int(rng.integers(len(pool)))]
    best = pool @ pool[chosen[0]]
    for _ in range(1, min(k, len(pool))):
        weights = np.clip(1 - best, 0, None)
        if weights.sum() <= 0:
            break
        chosen.append(int(rng.choice(len(pool), p=weights / weights.sum())))
        best = np.maximum(best, pool @ pool[chosen[-1]])
    centres = pool[chosen].astype(np.float64)
    for _ in range(iterations):
        labels = assign(vectors, centres)
        order = np.argsort(labels, kind="stable")
        present, starts = np.unique(labels[order], return_index=True)
        sums = np.add.reduceat(vectors[order], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        updated = centres.copy()
        updated[present] = sums / np.where(norms == 0, 1, norms)
        if np.allclose(updated, centres):
            break
        centres = updated
    return centres


def assign(vectors: np.ndarray, centres: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """The nearest centre (highest cosine) of each vector."""
    if not len(vectors):
        return np.zeros(0, dtype=np.int64)
    parts = [
        np.argmax(vectors[s : s + chunk] @ centres.T, axis=1) for s in range(0, len(vectors), chunk)
    ]
    return np.concatenate(parts)
