"""Diversity and coverage metrics for a set of texts.

- distinct-n (Li et al. 2016): distinct n-grams / all n-grams.
- self-BLEU (Zhu et al. 2018, Texygen): mean BLEU-4 of each sampled text
  against all the others (higher = less diverse); method-1 smoothing.
- ROUGE-L to a reference set (Self-Instruct's novelty measure): each text's
  highest ROUGE-L F1 against the references.
- embedding mean pairwise cosine distance and the Vendi score (Friedman &
  Dieng 2023: exp of the entropy of the eigenvalues of K/n).
- cluster balance (normalised entropy of k-means cluster sizes) and, given
  references, cluster coverage: the share of the references' k-means
  clusters that receive at least one text.

Embeddings default to hashed, L2-normalised bags of word 1- and 2-grams
(2,048 dimensions): lexical, dependency-free and deterministic; a sentence
model (MiniLM, an endpoint) can be passed instead.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable

import numpy as np

from ..quality.rouge import RougePool
from .cluster import assign, kmeans
from .text import words

_DIM = 2048


def distinct_n(texts: list[str], n: int) -> float:
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        tokens = words(text)
        grams.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def self_bleu(texts: list[str], max_n: int = 4) -> float:
    """Mean BLEU of each text with all the other texts as references."""
    token_lists = [words(t) for t in texts]
    if len(token_lists) < 2:
        return 0.0
    counts = [
        [Counter(tuple(t[i : i + n]) for i in range(len(t) - n + 1)) for n in range(1, max_n + 1)]
        for t in token_lists
    ]
    # for each n-gram, its two highest per-text counts: the max over "all others" of any text
    top: list[dict[tuple[str, ...], tuple[int, int]]] = [{} for _ in range(max_n)]
    for per_text in counts:
        for n, grams in enumerate(per_text):
            table = top[n]
            for gram, c in grams.items():
                first, second = table.get(gram, (0, 0))
                table[gram] = (c, first) if c >= first else (first, max(second, c))
    lengths = sorted(len(t) for t in token_lists)
    scores = []
    for index, per_text in enumerate(counts):
        length = len(token_lists[index])
        if not length:
            continue
        log_precision = 0.0
        for n, grams in enumerate(per_text):
            total = sum(grams.values())
            clipped = sum(min(c, _others_max(top[n][g], c)) for g, c in grams.items())
            log_precision += math.log((clipped or 0.1) / total) if total else math.log(0.1 / 1)
        closest = min(lengths, key=lambda r: (abs(r - length), r))
        penalty = 1.0 if length > closest else math.exp(1 - closest / length)
        scores.append(penalty * math.exp(log_precision / max_n))
    return sum(scores) / len(scores) if scores else 0.0


def _others_max(best: tuple[int, int], own: int) -> int:
    first, second = best
    return second if own == first else first


def rouge_l_to_reference(texts: list[str], references: list[str]) -> list[float]:
    pool = RougePool(references)
    return [pool.max_score(t) for t in texts]


def embed(texts: list[str]) -> np.ndarray:
    """Hashed bag-of-n-grams embeddings (unigrams and bigrams), L2-normalised."""
    out = np.zeros((len(texts), _DIM), dtype=np.float64)
    for row, text in enumerate(texts):
        tokens = words(text)
        grams = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
        for gram, count in Counter(grams).items():
            digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
            column = int.from_bytes(digest, "little") % _DIM
            out[row, column] += 1 + math.log(count)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def mean_pairwise_distance(vectors: np.ndarray) -> float:
    n = len(vectors)
    if n < 2:
        return 0.0
    total = vectors.sum(axis=0)
    similarity_sum = float(total @ total) - float((vectors * vectors).sum())
    return 1.0 - similarity_sum / (n * (n - 1))


def vendi_score(vectors: np.ndarray) -> float:
    """exp(entropy of the eigenvalues of K/n), K the cosine kernel (Friedman & Dieng 2023)."""
    n = len(vectors)
    if not n:
        return 0.0
    eigenvalues = np.linalg.eigvalsh(vectors.T @ vectors / n)  # same non-zero spectrum as K/n
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


def cluster_balance(vectors: np.ndarray, k: int) -> float:
    """Normalised entropy of the k-means cluster sizes (1 = evenly spread)."""
    if len(vectors) < 2 or k < 2:
        return 0.0
    labels = assign(vectors, kmeans(vectors, k))
    sizes = np.bincount(labels, minlength=k) / len(labels)
    sizes = sizes[sizes > 0]
    return float(-(sizes * np.log(sizes)).sum() / math.log(k))


def cluster_coverage(vectors: np.ndarray, references: np.ndarray, k: int) -> float:
    """Share of the references' k-means clusters that some text falls into."""
    centres = kmeans(references, k)
    hit = np.unique(assign(vectors, centres))
    return len(hit) / len(centres)


def sample(texts: list[str], size: int, seed: int = 0) -> list[str]:
    return texts if len(texts) <= size else random.Random(seed).sample(texts, size)


def report(
    texts: list[str],
    references: list[str] | None = None,
    sample_size: int = 1000,
    embedding: Callable[[list[str]], np.ndarray] = embed,
) -> dict:
    """Every metric for ``texts`` (pairwise ones on a seeded sample of ``sample_size``).

    ``embedding`` maps texts to unit vectors: the hashed n-grams by default, or
    a sentence model (e.g. ``partial(embed_cached, MiniLM(), cache=...)``).
    """
    chosen = sample(texts, sample_size)
    vectors = embedding(chosen)
    k = max(2, min(50, int(math.sqrt(len(chosen)))))
    metrics: dict = {
        "texts": len(texts),
        "sample": len(chosen),
        "mean_words": round(sum(len(words(t)) for t in texts) / max(len(texts), 1), 2),
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "distinct_3": round(distinct_n(texts, 3), 4),
        "self_bleu_4": round(self_bleu(chosen), 4),
        "embedding_mean_pairwise_distance": round(mean_pairwise_distance(vectors), 4),
        "vendi_score": round(vendi_score(vectors), 2),
        "cluster_balance": round(cluster_balance(vectors, k), 4),
        "clusters": k,
    }
    if references:
        scores = rouge_l_to_reference(chosen, references)
        metrics["rouge_l_to_reference_mean"] = (
            round(sum(scores) / len(scores), 4) if scores else 0.0
        )
        metrics["rouge_l_to_reference_above_0.7"] = round(
            sum(s > 0.7 for s in scores) / max(len(scores), 1), 4
        )
        reference_vectors = embedding(sample(references, sample_size))
        metrics["cluster_coverage_of_reference"] = round(
            cluster_coverage(vectors, reference_vectors, min(k, len(reference_vectors))), 4
        )
    return metrics
