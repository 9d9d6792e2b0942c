"""MinHash signing on Ray Data: the per-document work of near-dedup spread over a cluster.

``signed_on_ray`` turns texts into the signatures and shingle hashes that
``NearDuplicates.sign`` makes, with Ray Data ``map_batches`` (one signer per worker, order
preserved), and yields them in input order for ``NearDuplicates.add_signed``. Hashing is
deterministic (blake2b word hashes, fixed permutations), so the values, and therefore every
decision the single-process command takes from them, are the same.

What differs from a fully distributed dedup (NeMo Curator, datatrove): band bucketing, the
candidate pairs and their confirmation run in the driver on the gathered signatures, as the
single-process command does; only the signing (the bulk of the time) is distributed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .duplicates import NearDupConfig, NearDuplicates


class _Signer:
    """A Ray Data actor: signs batches of texts (its n-gram word table stays warm)."""

    def __init__(self, config: NearDupConfig):
        self.detector = NearDuplicates(config)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        signatures, shingles = self.detector.sign([str(text) for text in batch["text"]])
        return {
            "signature": np.array([row.tobytes() for row in signatures], dtype=object),
            "shingles": np.array([s.tobytes() for s in shingles], dtype=object),
        }


def signed_on_ray(
    ray: Any, config: NearDupConfig, texts: list[str], workers: int, batch: int
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """``(signatures, shingles)`` of ``texts`` in blocks, in input order, signed by
    ``workers`` Ray actors of one CPU each."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    blocks = max(workers, -(-len(texts) // batch))
    dataset = ray.data.from_items([{"text": t} for t in texts], override_num_blocks=blocks)
    signed = dataset.map_batches(
        _Signer,
        fn_constructor_args=(config,),
        batch_size=batch,
        batch_format="numpy",
        concurrency=workers,
        num_cpus=1,
    )
    for block in signed.iter_batches(batch_size=batch, batch_format="numpy"):
        signatures = np.stack([np.frombuffer(b, dtype=np.uint32) for b in block["signature"]])
        shingles = [np.frombuffer(b, dtype=np.uint64).copy() for b in block["shingles"]]
        yield signatures, shingles
