"""MinHash signatures and LSH banding, vectorised with numpy.

Broder (1997) MinHash with multiply-shift permutations ``(a·x + b) >> 32`` of
64-bit shingle hashes; LSH with ``bands × rows`` (Indyk & Motwani 1998;
Leskovec et al., *Mining of Massive Datasets*, ch. 3). A pair with Jaccard
similarity ``s`` becomes a candidate with probability ``1 - (1 - s^rows)^bands``.
"""

from __future__ import annotations

import numpy as np

EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a document with no shingles
_SHINGLES_PER_BLOCK = 4096  # the (permutations × shingles) scratch matrix stays in cache
_MAX_BUCKET_PAIRS = 200  # members of a bucket paired all-to-all; larger buckets use a window


def catch_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair with this Jaccard similarity becomes a candidate."""
    return 1.0 - (1.0 - similarity**rows) ** bands


class MinHasher:
    """``num_perm`` MinHash values per document from its shingle hashes."""

    def __init__(self, num_perm: int, seed: int = 1):
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * 2 + 1
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)

    def signatures(self, shingle_sets: list[np.ndarray]) -> np.ndarray:
        """A ``(documents, num_perm)`` uint32 matrix; empty documents get all ``EMPTY``."""
        out = np.full((len(shingle_sets), self.num_perm), EMPTY, dtype=np.uint32)
        block: list[int] = []
        size = 0
        for doc, shingles in enumerate(shingle_sets):
            if len(shingles):
                block.append(doc)
                size += len(shingles)
            if size >= _SHINGLES_PER_BLOCK or (doc == len(shingle_sets) - 1 and block):
                self._fill(out, block, shingle_sets)
                block, size = [], 0
        return out

    def _fill(self, out: np.ndarray, docs: list[int], shingle_sets: list[np.ndarray]) -> None:
        flat = np.concatenate([shingle_sets[d] for d in docs])
        starts = np.cumsum([0] + [len(shingle_sets[d]) for d in docs[:-1]])
        work = self.a[:, None] * flat[None, :]
        work += self.b[:, None]
        work >>= np.uint64(32)
        out[docs] = np.minimum.reduceat(work.astype(np.uint32), starts, axis=1).T


def band_keys(
    signatures: np.ndarray, bands: int, rows: int, docs: np.ndarray | None = None
) -> np.ndarray:
    """A ``(documents, bands)`` uint64 key per band: a weighted sum of its rows.

    Built one signature column at a time, so memory stays at the size of the keys.
    """
    weights = np.random.default_rng(rows).integers(1, 2**63, size=rows, dtype=np.uint64) * 2 + 1
    count = len(signatures) if docs is None else len(docs)
    keys = np.zeros((count, bands), dtype=np.uint64)
    for band in range(bands):
        for row in range(rows):
            column = band * rows + row
            values = signatures[:, column] if docs is None else signatures[docs, column]
            keys[:, band] += values.astype(np.uint64) * weights[row]
    return keys


def candidate_pairs(keys: np.ndarray) -> np.ndarray:
    """Unique ``(i, j)`` pairs, ``i < j``, sharing a key in any band; shape ``(pairs, 2)``."""
    found: list[np.ndarray] = [np.zeros((0, 2), dtype=np.int64)]
    for band in range(keys.shape[1]):
        column = keys[:, band]
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        boundaries = np.flatnonzero(np.diff(ordered)) + 1
        starts = np.concatenate(([0], boundaries))
        sizes = np.diff(np.concatenate((starts, [len(ordered)])))
        twos = starts[sizes == 2]  # most buckets with company hold exactly a pair
        found.append(np.stack([order[twos], order[twos + 1]], axis=1))
        for start, size in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist(), strict=True):
            found.append(bucket_pairs(order[start : start + size]))
    pairs = np.concatenate(found).astype(np.int64)
    pairs.sort(axis=1)
    count = len(keys)
    codes = np.sort(pairs[:, 0] * count + pairs[:, 1])  # one int64 per pair sorts fast
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if len(codes) else codes
    return np.stack([codes // count, codes % count], axis=1)


def bucket_pairs(members: np.ndarray) -> np.ndarray:
    """All pairs of a bucket, or each member with its next ``_MAX_BUCKET_PAIRS`` in a huge one."""
    members = np.sort(members)
    count = len(members)
    reach = min(count - 1, _MAX_BUCKET_PAIRS)
    left = np.concatenate([members[: count - k] for k in range(1, reach + 1)])
    right = np.concatenate([members[k:] for k in range(1, reach + 1)])
    return np.stack([left, right], axis=1)


def signature_similarity(signatures: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity (share of equal MinHash values) of each pair."""
    out = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), 65536):
        chunk = pairs[start : start + 65536]
        out[start : start + len(chunk)] = (signatures[chunk[:, 0]] == signatures[chunk[:, 1]]).mean(
            axis=1
        )
    return out
