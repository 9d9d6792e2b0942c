"""Token-aware chunking with overlap that never splits inside a word.

A word is a run of non-whitespace characters. The text is tokenized once (with offsets) and
each token is counted against the word it ends in, so the whitespace before a word counts with
it (byte-level BPE writes it into the word's first token). Chunks take whole words while their
tokens fit in ``max_tokens``; the next chunk starts with the last words of the previous one
that fit in ``overlap`` tokens (always at least one word further on). A single word longer than
``max_tokens`` is a chunk of its own. Chunks are spans of the text: ``text[start:end]``.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    tokens: int


def word_tokens(text: str, words: list[tuple[int, int]], tokenizer: Any) -> list[int]:
    """How many of ``text``'s tokens end in each word (whitespace before a word counts with it)."""
    ends = [end for _, end in words]
    counts = [0] * len(words)
    last = len(words) - 1
    for _, token_end in tokenizer.encode(text, add_special_tokens=False).offsets:
        counts[min(bisect_left(ends, token_end), last)] += 1
    return counts


def chunk_spans(text: str, tokenizer: Any, max_tokens: int, overlap: int) -> list[Span]:
    """The chunks of ``text``: at most ``max_tokens`` tokens each (a longer single word
    excepted), consecutive chunks sharing up to ``overlap`` tokens of whole words."""
    words = [match.span() for match in WORD.finditer(text)]
    if not words:
        return []
    counts = word_tokens(text, words, tokenizer)
    spans: list[Span] = []
    first = 0
    while True:
        last, total = first, counts[first]
        while last + 1 < len(words) and total + counts[last + 1] <= max_tokens:
            last += 1
            total += counts[last]
        spans.append(Span(words[first][0], words[last][1], total))
        if last + 1 == len(words):
            return spans
        start, shared = last + 1, 0
        while start - 1 > first and shared + counts[start - 1] <= overlap:
            start -= 1
            shared += counts[start]
        first = start
