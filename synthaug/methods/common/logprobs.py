"""Forced decoding: a text spelled out by a GBNF grammar, and the model's own log-probabilities
of its tokens read back (a backend that takes grammars and returns log-probabilities: the
local backend, a llama.cpp server). The tokens are those greedy forced decoding picks, which
need not be the tokenizer's own split of the text."""

from __future__ import annotations

import json

from ...engine.step import RowError
from ...llm.types import Completion, TokenLogprob


def forced_grammar(text: str) -> str:
    """A GBNF grammar whose only sentence is ``text``."""
    return "root ::= " + json.dumps(text, ensure_ascii=False)


def forced_budget(text: str, max_length: int) -> int:
    """``max_tokens`` for forcing ``text``: its UTF-8 bytes and the end token (no token is
    shorter than a byte), at most ``max_length``: the local backend was measured about ten
    times slower forcing a short text with ``max_tokens`` 2048 than with 16."""
    return min(max_length, len(text.encode("utf-8")) + 1)


def forced_tokens(completion: Completion) -> list[TokenLogprob]:
    """The forced tokens with their log-probabilities (the end token excluded); ``RowError``
    ``no_logprobs`` when the backend returned none."""
    tokens = (completion.choices[0].logprobs if completion.choices else None) or []
    forced = [t for t in tokens if t.token]
    if not forced:
        raise RowError("no_logprobs", "the backend returned no log-probabilities")
    return forced
