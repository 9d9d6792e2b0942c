"""Token-aware chunking with overlap that never splits inside a word.

A word is a run of non-whitespace characters; ``through[i]`` is the tokens of the page up to
word ``i``'s end, counted in place (``tokens.TokenCounter``). The byte-level BPE
pre-tokenizer always cuts at a word's end (no pre-token runs from a non-space into a space), so the text of a chunk, encoded alone, has
exactly ``alone(first word) + through[last] - through[first]`` tokens: its first word loses
the whitespace before it and is counted by itself, the rest is as in place. That count is a
chunk's ``tokens``, and it is what the limits hold for.

Chunks take whole words while they fit in ``max_tokens``; the next chunk starts at the
earliest word after the previous chunk's start from which the rest of that chunk fits in
``overlap`` tokens and leaves room for the word after it (a chunk of overlap alone would add
nothing); if none does, right after it. A single word longer than ``max_tokens`` is a chunk of
its own. Chunks are spans of the text: ``text[start:end]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    tokens: int


def chunk_spans(
    words: np.ndarray,
    through: np.ndarray,
    alone: Callable[[int], int],
    max_tokens: int,
    overlap: int,
) -> list[Span]:
    """Chunks of whole ``words`` whose exact tokens (``through`` in place, ``alone(i)`` for
    word ``i`` by itself) fit in ``max_tokens`` (a longer single word excepted), consecutive
    chunks sharing up to ``overlap`` tokens of whole words."""
    count = len(words)
    spans: list[Span] = []
    first = 0
    while first < count:
        lead = alone(first)  # then each word after it adds its tokens in place
        last = max(
            first, int(np.searchsorted(through, through[first] + max_tokens - lead, "right")) - 1
        )
        spans.append(
            Span(
                int(words[first, 0]),
                int(words[last, 1]),
                lead + int(through[last] - through[first]),
            )
        )
        if last + 1 == count:
            break
        # every word of the overlap counts a token at least: no earlier start can fit
        shared_from = int(np.searchsorted(through, through[last] - overlap + 1, "left"))
        room_from = int(np.searchsorted(through, through[last + 1] - max_tokens + 1, "left"))
        start = max(shared_from, room_from, first + 1)
        while start <= last and not (
            alone(start) + through[last] - through[start] <= overlap
            and alone(start) + through[last + 1] - through[start] <= max_tokens
        ):
            start += 1
        first = start
    return spans
