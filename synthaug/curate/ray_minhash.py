"""Near-dedup on Ray: signing, bucketing and confirmation in Ray tasks.

``RayNearDuplicates`` takes the place of ``NearDuplicates`` (``add`` chunks of texts with
their preferences, then ``resolve``) and takes every decision ``NearDuplicates.resolve``
takes, from the same values (deterministic hashing), so the output is the same:

1. signing: one task per chunk of rows makes the MinHash signatures and shingle hashes (kept
   in the object store, where the later tasks read them) and sends each signed document's
   whole-signature key to one of ``parts`` partitions (a hash shuffle);
2. identical signatures: a task per partition sorts its keys by (key, rank); every later
   document of a run is paired with the run's first, routed to the chunk of the later one;
3. a join in two shuffles: a task per chunk attaches to each pair whose first row it holds
   that row's signature and distinct shingles and routes it to the chunk of the second row,
   whose task computes the similarity (exact Jaccard or the signatures, as the single
   process would choose); a copy at or above the threshold is no representative;
4. band bucketing: a task per chunk sends the representatives' ``(band, band key, row)`` to
   the partitions; a task per partition sorts them, pairs each bucket's members as
   ``minhash.candidate_pairs`` does and routes the pairs to the chunk of their first row;
5. confirmation, the same join: each pair once, estimated from the signatures, the
   plausible ones confirmed by exact Jaccard (or the estimate kept), only confirmed pairs
   returned;
6. the driver gathers the confirmed edges (a few per duplicate) and the identical copies and
   walks them best rank first (``_keep_by_rank``), as the single process does.

The driver reads the input once (``synthaug dedup`` pass 1: checks, preferences, ids) and
hands each chunk's texts to its signing task, at most ``workers`` tasks at once (also in the
later steps); pass 2 streams the input again to write the output. It holds per row only
numbers (preference, rank, flags, the row's id for the report), never texts, signatures or
shingles. A task holds one chunk with the pairs routed to it, or one partition (about 2 M
bucket entries at most); the chunks live in Ray's object store (spilled to disk when it
fills). A task lost with its node runs again (Ray retries it and rebuilds lost results from
their lineage), so the output does not change; for that, each signing task's texts stay in
the object store of the driver's node until ``resolve`` ends (spillable, but not free).

Unlike NeMo Curator or datatrove, the last step is not connected components: the single
process keeps a document unless a *kept* better-ranked one is confirmed similar to it (no
chains), and the driver runs that same walk over the confirmed edges, which are few.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .duplicates import (
    _EXACT_MARGIN,
    Duplicate,
    NearDupConfig,
    NearDuplicates,
    _jaccard,
    _keep_by_rank,
    _ranks,
    _sorted_distinct,
    with_copies,
)
from .minhash import EMPTY, band_keys, bucket_pairs

RETRIES = 3  # a task whose worker or node died runs again up to this many times
_PARTITION_ENTRIES = 2_000_000  # (band, key, row) entries a bucketing task sorts (~48 MB)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # spreads (band, key) over the partitions
Chunk = dict[str, Any]  # start, signatures, flat shingles, offsets


@functools.cache
def _detector(config: NearDupConfig) -> NearDuplicates:
    return NearDuplicates(config)  # one per worker process: its n-gram word table stays warm


def _one_or_all(outputs: list[Any]) -> Any:
    """A task's results for ``num_returns=len(outputs)`` (one result is not a sequence)."""
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _routed(values: tuple[np.ndarray, ...], target: np.ndarray, count: int) -> Any:
    """``values`` (arrays of one length) split by ``target``, one piece per ``count``."""
    order = np.argsort(target, kind="stable")
    bounds = np.searchsorted(target[order], np.arange(count + 1))
    pieces = [tuple(v[order[a:b]] for v in values) for a, b in itertools.pairwise(bounds)]
    return _one_or_all(pieces)


def _sign(config: NearDupConfig, parts: int, start: int, texts: list[str]) -> tuple:
    """Step 1: the chunk, its shingle count, its whole-signature keys by partition."""
    signatures, shingles = _detector(config).sign(texts)
    lengths = np.array([len(s) for s in shingles], dtype=np.int64)
    held = int(lengths.sum())
    if config.confirm == "signature":
        shingles, lengths = [], np.zeros(len(texts), dtype=np.int64)
    flat = np.concatenate(shingles) if shingles else np.zeros(0, dtype=np.uint64)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    chunk = {"start": start, "signatures": signatures, "flat": flat, "offsets": offsets}
    local = np.flatnonzero(signatures[:, 0] != EMPTY)
    whole = band_keys(signatures, 1, signatures.shape[1], local)[:, 0]
    keyed = _routed((whole, local + start), (whole % np.uint64(parts)).astype(np.int64), parts)
    return (chunk, held, *(keyed if parts > 1 else (keyed,)))


def _identical(size: int, chunks: int, rank: np.ndarray, *parts: tuple) -> Any:
    """Step 2: (later row, first row) of each run of identical signatures, by chunk."""
    whole = np.concatenate([p[0] for p in parts])
    docs = np.concatenate([p[1] for p in parts])
    order = np.lexsort((rank[docs], whole))
    whole, docs = whole[order], docs[order]
    first = np.concatenate(([True], whole[1:] != whole[:-1]))[: len(docs)]
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(docs)), 0))
    later = np.flatnonzero(~first)
    return _routed((docs[later], docs[run_start[later]]), docs[later] // size, chunks)


def _band_map(config: NearDupConfig, parts: int, chunk: Chunk, copies: np.ndarray) -> Any:
    """Step 4a: the representatives' (band, key, row), by partition."""
    signatures, start = chunk["signatures"], chunk["start"]
    mine = (signatures[:, 0] != EMPTY) & ~copies[start : start + len(signatures)]
    local = np.flatnonzero(mine)
    keys = band_keys(signatures, config.bands, config.rows, local)
    band = np.tile(np.arange(config.bands, dtype=np.int64), len(local))
    key, docs = keys.ravel(), np.repeat(local + start, config.bands)
    target = ((key + band.astype(np.uint64) * _MIX) % np.uint64(parts)).astype(np.int64)
    return _routed((band, key, docs), target, parts)


def _buckets(size: int, chunks: int, *parts: tuple) -> Any:
    """Step 4b: the candidate pairs of this partition's buckets, by the chunk of the first."""
    band, key, docs = (np.concatenate([p[i] for p in parts]) for i in range(3))
    order = np.lexsort((key, band))
    band, key, docs = band[order], key[order], docs[order]
    new = np.concatenate(([True], (band[1:] != band[:-1]) | (key[1:] != key[:-1])))
    starts = np.flatnonzero(new[: len(docs)])
    sizes = np.diff(np.concatenate((starts, [len(docs)])))
    twos = starts[sizes == 2]
    found = [np.zeros((0, 2), dtype=np.int64), np.stack([docs[twos], docs[twos + 1]], axis=1)]
    for start, count in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist(), strict=True):
        found.append(bucket_pairs(docs[start : start + count]))
    pairs = np.sort(np.concatenate(found).astype(np.int64), axis=1)
    codes = np.unique(pairs[:, 0] * 2**32 + pairs[:, 1])  # each pair once (rows < 2**32)
    left, right = codes >> 32, codes & (2**32 - 1)
    return _routed((left, right), left // size, chunks)


def _attach(
    exact: bool, candidates: bool, size: int, chunks: int, own: Chunk, *parts: tuple
) -> Any:
    """Steps 3a and 5a: pairs whose first row is in ``own`` (candidates: each once), with
    that row's signature and distinct shingles, by the chunk of the second row."""
    left = np.concatenate([p[0] for p in parts])
    right = np.concatenate([p[1] for p in parts])
    if candidates:
        codes = np.unique(left * 2**32 + right)
        left, right = codes >> 32, codes & (2**32 - 1)
    signatures = own["signatures"][left - own["start"]]
    sets = _Sets(own)
    target = right // size
    order = np.argsort(target, kind="stable")
    bounds = np.searchsorted(target[order], np.arange(chunks + 1))
    pieces = []
    for start, end in itertools.pairwise(bounds.tolist()):
        rows = order[start:end]
        distinct = [sets[d] for d in left[rows].tolist()] if exact else []
        lengths = np.array([len(d) for d in distinct] or [0] * len(rows), dtype=np.int64)
        pieces.append({
            "start": 0, "left": left[rows], "right": right[rows], "signatures": signatures[rows],
            "flat": np.concatenate(distinct) if distinct else np.zeros(0, dtype=np.uint64),
            "offsets": np.concatenate(([0], np.cumsum(lengths))),
        })  # fmt: skip
    return _one_or_all(pieces)


def _compare(
    config: NearDupConfig, exact: bool, candidates: bool, own: Chunk, *pieces: Chunk
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 3b and 5b: the similarity of pairs whose second row is in ``own``.

    Candidates: only the confirmed ones (estimate at least the threshold less the margin,
    then exact Jaccard at least the threshold; or the estimate at least the threshold);
    identical copies: every pair."""
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
        (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    ]
    sets = _Sets(own)
    for piece in pieces:
        a, b = piece["left"], piece["right"]
        similarity = (piece["signatures"] == own["signatures"][b - own["start"]]).mean(axis=1)
        rows = np.arange(len(a))
        if candidates:
            margin = _EXACT_MARGIN if exact else 0.0
            rows = np.flatnonzero(similarity >= config.threshold - margin)
        if exact:
            theirs = _Sets(piece, distinct=True)
            similarity[rows] = [
                _jaccard(theirs[r], sets[y])
                for r, y in zip(rows.tolist(), b[rows].tolist(), strict=True)
            ]
        if candidates:
            rows = rows[similarity[rows] >= config.threshold]
        out.append((a[rows], b[rows], similarity[rows]))
    return tuple(np.concatenate([o[i] for o in out]) for i in range(3))  # type: ignore[return-value]


class _Sets:
    """The distinct shingles, sorted, of a chunk's rows (made on first use), or of a piece's
    ``distinct`` ones (by position)."""

    def __init__(self, chunk: Chunk, distinct: bool = False):
        self.chunk, self.distinct = chunk, distinct
        self.made: dict[int, np.ndarray] = {}

    def __getitem__(self, doc: int) -> np.ndarray:
        if doc not in self.made:
            local = doc - self.chunk["start"]
            offsets = self.chunk["offsets"]
            shingles = self.chunk["flat"][offsets[local] : offsets[local + 1]]
            self.made[doc] = shingles if self.distinct else _sorted_distinct(shingles)
        return self.made[doc]


class RayNearDuplicates:
    """``NearDuplicates`` with its work in Ray tasks (see the module docstring)."""

    def __init__(
        self,
        ray: Any,
        config: NearDupConfig,
        workers: int,
        total: int,
        say: Callable[[str], None] = lambda line: None,
    ):
        self.ray, self.config, self.workers, self.say = ray, config, workers, say
        # a few chunks per worker (each task's memory is one or two chunks), 64..16384 rows
        self.chunk = min(16_384, max(64, math.ceil(total / (4 * workers))))
        self.parts = max(2 * workers, math.ceil(total * config.bands / _PARTITION_ENTRIES))
        self._chunks: list[Any] = []
        self._held: list[Any] = []
        self._whole: list[list[Any]] = []
        self._preferences: list[float] = []
        self._running: list[Any] = []
        self._exact: bool | None = None
        self._remote: dict[Callable, Any] = {}

    @property
    def confirmation(self) -> str:
        return "exact Jaccard" if self._exact else "MinHash signatures"

    def add(self, texts: list[str], preferences: list[float] | None = None) -> None:
        """Sign a chunk of at most ``self.chunk`` texts (the next rows) in a task."""
        if not texts:
            return
        start = len(self._preferences)
        self._preferences.extend(preferences or [0.0] * len(texts))
        self._wait(self.workers - 1)  # the driver reads the next chunk meanwhile
        returned = self._task(_sign, 2 + self.parts).remote(self.config, self.parts, start, texts)
        self._chunks.append(returned[0])
        self._held.append(returned[1])
        self._whole.append(returned[2:])
        self._running.append(returned[0])

    def resolve(self) -> dict[int, Duplicate]:
        if not self._chunks:
            return {}
        ray, config, size, chunks = self.ray, self.config, self.chunk, len(self._chunks)
        rank = _ranks(np.asarray(self._preferences))
        rank_ref = ray.put(rank)
        held = sum(ray.get(self._held))
        self._exact = config.confirm == "exact" or (
            config.confirm == "auto" and held <= config.exact_limit
        )
        self.say("identical signatures")
        runs = self._map(
            _identical, chunks, [(size, chunks, rank_ref, *(w[p] for w in self._whole))
                                 for p in range(self.parts)],
        )  # fmt: skip
        self._whole = []
        copy_doc, copy_rep, copy_sim = self._similar(False, runs)
        del runs  # frees the routed pairs in the object store
        copy = copy_sim >= config.threshold
        copies_flag = np.zeros(len(rank), dtype=bool)
        copies_flag[copy_doc[copy]] = True
        self.say("band bucketing")
        copies_ref = ray.put(copies_flag)
        keyed = self._map(
            _band_map, self.parts, [(config, self.parts, c, copies_ref) for c in self._chunks]
        )
        buckets = self._map(
            _buckets, chunks, [(size, chunks, *(k[p] for k in keyed)) for p in range(self.parts)]
        )
        del keyed
        self.say("confirmation")
        left, right, similarity = self._similar(True, buckets)
        del buckets
        pairs = np.stack([left, right], axis=1)
        duplicates = _keep_by_rank(pairs, rank, lambda k: float(similarity[k]))
        copies = {
            d: (r, float(s))
            for d, r, s in zip(copy_doc[copy].tolist(), copy_rep[copy].tolist(),
                               copy_sim[copy].tolist(), strict=True)
        }  # fmt: skip
        self._chunks = []
        return with_copies(duplicates, copies)

    def _similar(self, candidates: bool, routed: list[list[Any]]) -> tuple[np.ndarray, ...]:
        """Steps 3 and 5 over every chunk: the pairs' rows and similarities, gathered."""
        chunks = len(self._chunks)
        attached = self._map(
            _attach, chunks,
            [(self._exact, candidates, self.chunk, chunks, c, *(r[i] for r in routed))
             for i, c in enumerate(self._chunks)],
        )  # fmt: skip
        calls = [
            (self.config, self._exact, candidates, c, *(a[i] for a in attached))
            for i, c in enumerate(self._chunks)
        ]
        found = self.ray.get([refs[0] for refs in self._map(_compare, 1, calls)])
        return tuple(np.concatenate([f[i] for f in found]) for i in range(3))

    def _map(self, function: Callable, returns: int, calls: list[tuple]) -> list[list[Any]]:
        """``function`` over ``calls`` as tasks, at most ``workers`` at once; each call's
        ``returns`` result references."""
        out = []
        for arguments in calls:
            self._wait(self.workers - 1)
            refs = self._task(function, returns).remote(*arguments)
            refs = [refs] if returns == 1 else list(refs)
            self._running.append(refs[0])
            out.append(refs)
        self._wait(0)
        return out

    def _wait(self, most: int) -> None:
        """Until at most ``most`` tasks run (their results stay in the object store)."""
        while len(self._running) > max(most, 0):
            _, self._running = self.ray.wait(self._running, num_returns=1, fetch_local=False)

    def _task(self, function: Callable, returns: int) -> Any:
        if function not in self._remote:
            self._remote[function] = self.ray.remote(function)
        return self._remote[function].options(num_cpus=1, num_returns=returns, max_retries=RETRIES)
