"""ROUGE-L for the Self-Instruct novelty filter: LCS, scores and the pruned pool."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from synthaug.quality.rouge import RougePool, lcs_length, rouge_l, tokenize


def _lcs_dp(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _random_tokens(rng: random.Random, vocab: list[str], max_len: int) -> list[str]:
    return rng.choices(vocab, k=rng.randint(0, max_len))


def _random_text(rng: random.Random, vocab: list[str]) -> str:
    words = _random_tokens(rng, vocab, 12)
    return " ".join(w.upper() if rng.random() < 0.1 else w for w in words) + rng.choice(
        ["", ".", "?", "!!"]
    )


@pytest.mark.parametrize("seed", range(4))
def test_lcs_matches_dp(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(1000):
        vocab = [str(i) for i in range(rng.randint(1, 8))]
        a = _random_tokens(rng, vocab, 30)
        b = _random_tokens(rng, vocab, 80)  # past 64 positions: masks wider than a word
        assert lcs_length(a, b) == _lcs_dp(a, b)


def test_tokenize() -> None:
    assert tokenize("Write a poem, about cats!") == ["write", "a", "poem", "about", "cats"]
    assert tokenize("  e-mail's 2nd_try  ") == ["e", "mail", "s", "2nd", "try"]
    assert tokenize("café naïve 東京") == ["caf", "na", "ve"]
    assert tokenize("") == [] and tokenize("?!") == []


def test_rouge_l_examples() -> None:
    assert rouge_l("Write a poem about cats.", "Write a poem about cats.") == 1.0
    assert rouge_l("Write a poem", "summarize the article") == 0.0
    assert rouge_l("WRITE, a Poem!", "write a poem") == 1.0
    assert rouge_l("", "write a poem") == 0.0 and rouge_l("...", "") == 0.0


def test_rouge_l_worked_example() -> None:
    # candidate: the cat sat on the mat (6); reference: the cat is on the red mat (7)
    # LCS = "the cat on the mat" = 5, P = 5/6, R = 5/7, F = 2PR/(P+R) = 10/13
    candidate, reference = "The cat sat on the mat.", "the cat is on the red mat"
    assert rouge_l(candidate, reference) == pytest.approx(10 / 13)
    assert rouge_l(reference, candidate) == rouge_l(candidate, reference)


def _random_pool(rng: random.Random) -> tuple[RougePool, list[str], list[str]]:
    """A pool grown one text at a time, its texts, and queries (some with unseen words)."""
    vocab = [f"w{i}" for i in range(rng.randint(2, 15))]
    texts = [_random_text(rng, vocab) for _ in range(rng.randint(0, 40))]
    pool = RougePool()
    for text in texts:
        pool.add(text)
    queries = [_random_text(rng, [*vocab, "unseen"]) for _ in range(10)]
    return pool, texts, queries


def test_pool_scores_match_rouge_l() -> None:
    rng = random.Random(7)
    vocab = ["alpha", "beta", "gamma", "delta"]
    texts = [_random_text(rng, vocab) for _ in range(30)]
    pool = RougePool(texts)
    assert len(pool) == 30
    for _ in range(20):
        query = _random_text(rng, [*vocab, "unseen"])
        assert pool.scores(query) == [rouge_l(query, t) for t in texts]


@pytest.mark.parametrize("seed", range(5))
def test_max_score_matches_scores(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        pool, _, queries = _random_pool(rng)
        for query in queries:
            true_max = max(pool.scores(query), default=0.0)
            assert pool.max_score(query) == true_max
            for threshold in (-0.5, 0.0, 0.3, 0.5, 0.7, 0.9, 1.0, true_max):
                got = pool.max_score(query, stop_above=threshold)
                assert (got > threshold) == (true_max > threshold)
                assert got <= true_max


def test_max_score_edge_cases() -> None:
    assert RougePool().max_score("anything") == 0.0
    pool = RougePool(["write a poem", "", "summarize this article"])
    assert pool.max_score("") == 0.0
    assert pool.max_score("translate to french") == 0.0
    assert pool.max_score("Write a POEM!") == 1.0
    assert pool.max_score("write a poem", stop_above=0.7) > 0.7


def test_most_similar_ordering() -> None:
    texts = ["a b c d", "x y", "A, b c d!", "a b", "q r s"]
    pool = RougePool(texts)
    assert pool.most_similar("a b c d", k=4) == [
        ("a b c d", 1.0),
        ("A, b c d!", 1.0),
        ("a b", pytest.approx(2 / 3)),
        ("x y", 0.0),
    ]
    assert pool.most_similar("a b", k=0) == []
    unrelated = pool.most_similar("zzz", k=10)
    assert unrelated == [(t, 0.0) for t in texts]


@pytest.mark.parametrize("seed", range(3))
def test_most_similar_matches_scores(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(40):
        pool, texts, queries = _random_pool(rng)
        for query in queries:
            scores = pool.scores(query)
            for k in (1, 3, 10, len(pool) + 5):
                order = sorted(range(len(scores)), key=lambda j: (-scores[j], j))[:k]
                assert pool.most_similar(query, k) == [(texts[j], scores[j]) for j in order]


@pytest.mark.parametrize("floor", [0.0, 0.5, 0.7])
def test_pruning_bounds_are_multiset_overlaps(floor: float) -> None:
    # the bound that lets max_score skip pairs: the F1 of an LCS as long as |A & B|
    rng = random.Random(11)
    for _ in range(40):
        pool, texts, queries = _random_pool(rng)
        for query in queries:
            q = Counter(tokenize(query))
            expected = []
            for j, text in enumerate(texts):
                t = Counter(tokenize(text))
                overlap = (q & t).total()
                if overlap:
                    p, r = overlap / q.total(), overlap / t.total()
                    if (bound := 2 * p * r / (p + r)) > floor:
                        expected.append((j, bound))
            assert sorted((j, b) for b, j in pool._bounds(pool._encode(query), floor)) == expected
