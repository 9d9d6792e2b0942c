"""Token-aware chunking with overlap that never splits inside a word.

A word is a run of non-whitespace characters; its token count (``tokens.TokenCounter``)
includes the whitespace before it. Chunks take whole words while their tokens fit in
``max_tokens``; the next chunk starts with the last words of the previous one that fit in
``overlap`` tokens (always at least one word further on, and fewer when the next word would
not fit otherwise). A single word longer than
``max_tokens`` is a chunk of its own. Chunks are spans of the text: ``text[start:end]``.
Re-tokenized alone, a chunk may count a token or two more than in place: its first word loses
the whitespace it was counted with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    tokens: int


def word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every word of ``text``."""
    return [match.span() for match in WORD.finditer(text)]


def chunk_spans(
    words: Sequence[tuple[int, int]], counts: Sequence[int], max_tokens: int, overlap: int
) -> list[Span]:
    """Chunks of whole ``words`` (spans) whose tokens (``counts``, one per word) fit in
    ``max_tokens`` (a longer single word excepted), consecutive chunks sharing up to
    ``overlap`` tokens of whole words."""
    if not len(words):
        return []
    before = np.concatenate(([0], np.cumsum(counts)))  # before[i]: tokens ahead of word i
    spans: list[Span] = []
    first = 0
    while True:
        # the last word whose end keeps the chunk within max_tokens (at least the first word)
        last = max(first, int(np.searchsorted(before, before[first] + max_tokens, "right")) - 2)
        total = int(before[last + 1] - before[first])
        spans.append(Span(words[first][0], words[last][1], total))
        if last + 1 == len(words):
            return spans
        # the earliest word after ``first`` from which the rest of this chunk fits in overlap
        # and leaves room for the next word (a chunk of overlap alone would add nothing)
        shared = int(np.searchsorted(before, before[last + 1] - overlap, "left"))
        room = int(np.searchsorted(before, before[last + 2] - max_tokens, "left"))
        first = min(max(shared, room, first + 1), last + 1)
