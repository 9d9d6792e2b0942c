"""Benchmark the Self-Instruct novelty filter (Wang et al. 2023): is max ROUGE-L > 0.7?

Builds a pool of N synthetic instruction-like strings (8-25 words drawn from a
fixed Zipf-weighted vocabulary, seeded; a tenth of the candidates are light edits
of pool members so some are rejected), then checks candidates with
``RougePool.max_score(stop_above=0.7)`` and with a naive loop of plain-Python
DP-LCS ROUGE-L (Lin 2004) against every member, the baseline, timed on the
first candidates only. Run: ``python benchmarks/bench_rouge.py``.
"""

from __future__ import annotations

import argparse
import random
import time

from synthaug.quality.rouge import RougePool, tokenize

THRESHOLD = 0.7


def _dp_rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1 with the textbook O(nm) LCS table."""
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def _corpus(n_pool: int, n_candidates: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    common = ["write", "a", "the", "of", "to", "and", "in", "for", "is", "how", "what"]
    vocab = common + [f"word{i}" for i in range(3000)]
    weights = [1 / (rank + 1) for rank in range(len(vocab))]

    def sentence() -> list[str]:
        return rng.choices(vocab, weights, k=rng.randint(8, 25))

    pool = [" ".join(sentence()) for _ in range(n_pool)]
    candidates = []
    for i in range(n_candidates):
        if i % 10 == 0:  # a near-duplicate: one word of a pool member replaced
            words = rng.choice(pool).split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
            candidates.append(" ".join(words).capitalize() + "?")
        else:
            candidates.append(" ".join(sentence()).capitalize() + ".")
    return pool, candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=5000)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts, candidates = _corpus(args.pool, args.candidates, args.seed)

    start = time.perf_counter()
    pool = RougePool(texts)
    build_s = time.perf_counter() - start

    start = time.perf_counter()
    fast = [pool.max_score(c, stop_above=THRESHOLD) > THRESHOLD for c in candidates]
    fast_s = time.perf_counter() - start

    pool_tokens = [tokenize(t) for t in texts]
    subset = candidates[: args.baseline]
    start = time.perf_counter()
    naive = [
        max(_dp_rouge_l(tokenize(c), toks) for toks in pool_tokens) > THRESHOLD for c in subset
    ]
    naive_s = time.perf_counter() - start
    if naive != fast[: len(subset)]:
        raise SystemExit("mismatch between RougePool and the naive DP baseline")

    fast_rate = len(candidates) / fast_s
    naive_rate = len(subset) / naive_s
    print(f"pool: {len(pool)} texts, built in {build_s:.3f} s; threshold ROUGE-L > {THRESHOLD}")
    print(f"rejected: {sum(fast)} of {len(candidates)} candidates")
    print(f"(a) RougePool.max_score(stop_above={THRESHOLD}): {fast_rate:10.1f} candidates/s")
    print(f"(b) naive DP rouge_l loop ({len(subset)} candidates): {naive_rate:10.2f} candidates/s")
    print(f"speed-up (a)/(b): {fast_rate / naive_rate:.0f}x")


if __name__ == "__main__":
    main()
