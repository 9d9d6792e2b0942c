"""Retrieval over a list of texts (e.g. the chunks of ``synthaug ingest``).

- ``bm25``: Okapi BM25 through ``bm25s`` (Lucene's variant; ``lexical.py``);
- ``dense``: cosine similarity of sentence embeddings (MiniLM or an endpoint), the vectors
  kept in the run's cache (``dense.py``);
- ``hybrid``: reciprocal rank fusion of the two (``fusion.py``).

Every index answers ``search(queries, k)`` with, per query, up to ``k`` :class:`Hit` s (the
text's index and its score), best first.
"""

from __future__ import annotations

from .base import Hit, Index
from .dense import DenseIndex
from .fusion import HybridIndex, reciprocal_rank_fusion
from .lexical import BM25Index

__all__ = ["BM25Index", "DenseIndex", "Hit", "HybridIndex", "Index", "reciprocal_rank_fusion"]
