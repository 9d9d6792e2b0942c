"""Semantic decontamination: embedding nearest neighbours, then an LLM judge of "same question?".

Yang et al., 2023, "Rethinking Benchmark and Contamination for Language Models with Rephrased
Samples" (arXiv 2311.04850): a rephrased or translated test item passes n-gram
decontamination, yet a model trained on it scores as if it had seen the test. Their *LLM
decontaminator* embeds both sets with a sentence encoder (multi-qa-MiniLM-L6-cos-v1), takes
the top-k most similar pairs, and asks a strong LLM (GPT-4, temperature 0.3) whether the two
are the same, with one instruction per kind of data (code: same problem whatever the
implementation; math: same question disregarding names and word order; knowledge: same
question with the same answer); it answers only True or False.

This module does the same per row: the ``top_k`` benchmark items nearest to the row, each
judged by the model of any backend. What differs, and why:

- Neighbours are benchmark items per *row* (the authors take training rows per *test item*);
  a row is removed when the judge says True for any of its candidates.
- Pairs below ``min_similarity`` (cosine) are not judged: the authors judge every top-k pair,
  which costs one model call per row of the corpus. The step's and command's default, 0.7,
  comes from ``benchmarks/bench_decontaminate.py`` (all-MiniLM-L6-v2, the eight built-in
  benchmarks, 2,297 clean rows): at 0.5 the judge is asked about 13 % of clean rows, at 0.7
  about 0.4 %, while 88 % of paraphrased items are still at 0.7 or above. With
  ``judge=False`` the cosine alone decides (the embedding baseline of the paper); 0.8 removed
  no clean row there, 0.7 removed 8.
- The embedded SmolLM2-135M is a poor judge (it answers mostly by the kind of question, not by
  the pair: True for math and code, False for knowledge; 31 % of verbatim copies confirmed in
  that benchmark): give a capable model through any backend (``judge_backend`` in a recipe,
  ``--judge-backend``/``--judge-model`` on the command line), or go without a judge.
- A long row is embedded in windows of ``window`` words (half overlapping), since the
  embedder reads only its first 256 word pieces; the row's similarity to an item is its best
  window's, and the judge sees that window (with the text around it up to ``window`` words
  on each side), so a benchmark item inside a long document is found.
- The instructions are written anew for synthaug (same three kinds, chosen by the item's
  benchmark); the reply is constrained to ``True`` or ``False`` by a grammar (small models need
  it; ``constrained=False`` for backends without grammars, where the first word is read), and
  decoding is greedy (the authors sample at 0.3) so the request cache replays it.

Every judged pair is evidence in the report: benchmark, item id, cosine similarity, and the
verdict (a judged pair the model cleared is kept with ``contaminated: false``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..llm.cache import RequestCache
from ..llm.client import LLMClient
from ..llm.embeddings import Embedder, embed_cached
from ..llm.types import ChatRequest, chat
from .benchmarks import BenchmarkItem, Hit

INSTRUCTIONS = {
    "code": (
        "You compare two programming tasks. Each may be a problem statement, a program, or "
        "both. Decide whether they ask for the same program: the same goal, the same inputs "
        "and the same outputs, however they are worded and however the code is written. "
        "Reply True if they do and False if they do not, with nothing else."
    ),
    "math": (
        "You compare two math problems. Decide whether they are the same problem: the same "
        "question about the same quantities, so that both have the same answer, even when the "
        "names, the wording or the order of the sentences differ. Reply True if they are and "
        "False if they are not, with nothing else."
    ),
    "knowledge": (
        "You compare two questions or tasks. Decide whether they are the same: they ask for "
        "the same thing and have the same answer, even when the names, the wording or the "
        "order of the sentences differ. Reply True if they are and False if they are not, "
        "with nothing else."
    ),
}
VERDICT_GRAMMAR = 'root ::= "True" | "False"'
_FIRST_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class Candidate:
    item: int
    similarity: float
    excerpt: str  # the part of the row the judge reads


def judge_request(
    excerpt: str, item: BenchmarkItem, seed: int, constrained: bool = True
) -> ChatRequest:
    """The judge's request for a row excerpt and a benchmark item."""
    user = f"Text 1:\n<<<\n{excerpt.strip()}\n>>>\n\nText 2:\n<<<\n{item.text.strip()}\n>>>"
    return chat(
        ("system", INSTRUCTIONS[item.kind]),
        ("user", user),
        temperature=0.0,
        max_tokens=4,
        seed=seed,
        grammar=VERDICT_GRAMMAR if constrained else None,
    )


def parse_verdict(text: str) -> bool | None:
    """True or False from the judge's reply (its first word; yes/no accepted), else None."""
    match = _FIRST_WORD.search(text)
    word = match.group(0).lower() if match else ""
    return {"true": True, "yes": True, "false": False, "no": False}.get(word)


class SemanticDecontaminator:
    """Benchmark item embeddings, nearest items per row, and the judge's verdicts."""

    def __init__(
        self,
        items: list[BenchmarkItem],
        embedder: Embedder,
        cache: RequestCache | None = None,
        top_k: int = 1,
        min_similarity: float = 0.7,
        window: int = 128,
        constrained: bool = True,
    ):
        self.items, self.embedder, self.cache = items, embedder, cache
        self.top_k, self.min_similarity, self.window = top_k, min_similarity, window
        self.constrained = constrained
        self.vectors = (
            embed_cached(embedder, [item.text for item in items], cache)
            if items
            else np.zeros((0, 1), dtype=np.float32)
        )

    def _windows(self, text: str) -> list[tuple[int, int]]:
        """(first word, end word) of each half-overlapping window of a row."""
        count = len(text.split())
        if count <= self.window:
            return [(0, count)]
        step = self.window // 2
        starts = range(0, count - self.window + step, step)
        return [(start, min(count, start + self.window)) for start in starts]

    def nearest(self, texts: Sequence[str]) -> list[list[Candidate]]:
        """The ``top_k`` items nearest to each text, at ``min_similarity`` or more."""
        pieces, owners, spans = [], [], []
        for row, text in enumerate(texts):
            tokens = text.split()
            for start, end in self._windows(text):
                pieces.append(" ".join(tokens[start:end]) if len(tokens) > self.window else text)
                owners.append(row)
                spans.append((start, end))
        out: list[list[Candidate]] = [[] for _ in texts]
        if not pieces or not len(self.items):
            return out
        scores = embed_cached(self.embedder, pieces, self.cache) @ self.vectors.T
        owner = np.asarray(owners)
        k = min(self.top_k, len(self.items))
        for row, text in enumerate(texts):
            mine = np.flatnonzero(owner == row)
            if not len(mine):
                continue
            block = scores[mine]
            best_window = block.argmax(axis=0)  # per item, the window closest to it
            best = block.max(axis=0)
            top = np.argpartition(-best, k - 1)[:k] if k < len(best) else np.arange(len(best))
            tokens = text.split()
            for item in sorted(top.tolist(), key=lambda i: -best[i]):
                if best[item] < self.min_similarity:
                    continue
                start, end = spans[mine[best_window[item]]]
                excerpt = (
                    text
                    if len(tokens) <= self.window
                    else " ".join(tokens[max(0, start - self.window) : end + self.window])
                )
                out[row].append(Candidate(item, round(float(best[item]), 4), excerpt))
        return out

    async def judge(self, client: LLMClient, candidates: list[Candidate], seed: int) -> list[Hit]:
        """The judge's verdict on each candidate, as evidence (one call per candidate)."""
        requests = [
            judge_request(c.excerpt, self.items[c.item], seed, self.constrained) for c in candidates
        ]
        replies = await asyncio.gather(*(client.complete(r) for r in requests))
        hits = []
        for candidate, reply in zip(candidates, replies, strict=True):
            text = reply.choices[0].text.strip()
            verdict = parse_verdict(text)
            item = self.items[candidate.item]
            hits.append(
                Hit(
                    "semantic",
                    item.benchmark,
                    item.item_id,
                    candidate.similarity,
                    f"judge: {text or '(empty)'}",
                    verdict is True,
                )
            )
        return hits

    def unjudged(self, candidates: list[Candidate]) -> list[Hit]:
        """Without a judge: every candidate (cosine at least ``min_similarity``) is a hit, as in
        the embedding-similarity baseline of Yang et al."""
        return [
            Hit(
                "semantic",
                self.items[c.item].benchmark,
                self.items[c.item].item_id,
                c.similarity,
                f"no judge: cosine >= {self.min_similarity:g}",
            )
            for c in candidates
        ]

    async def check(
        self, client: LLMClient, texts: Sequence[str], seed: int = 0
    ) -> list[list[Hit]]:
        """Every judged candidate of each text (contaminated where the judge said True)."""
        nearest = self.nearest(texts)
        found = await asyncio.gather(*(self.judge(client, c, seed) for c in nearest))
        return list(found)
