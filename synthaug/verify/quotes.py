"""Verbatim quotes in an answer (RAFT's ``##begin_quote## ... ##end_quote##``), checked
against the passage they claim to copy: every quote must occur in it, whitespace normalised."""

from __future__ import annotations

import re
from typing import Any

BEGIN, END = "##begin_quote##", "##end_quote##"
_QUOTE = re.compile(re.escape(BEGIN) + r"(.*?)" + re.escape(END), re.DOTALL)
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """``text`` with every run of whitespace one space, ends stripped."""
    return _SPACE.sub(" ", text).strip()


def quotes_in(answer: str) -> list[str]:
    """The quotes of ``answer``, in order (whitespace normalised; empty ones left out)."""
    return [q for q in (normalise(m) for m in _QUOTE.findall(answer)) if q]


def missing_quotes(quotes: list[str], passage: str) -> list[str]:
    """The quotes that do not occur in ``passage`` (both whitespace normalised)."""
    text = normalise(passage)
    return [quote for quote in quotes if normalise(quote) not in text]


def check_quotes(answer: str, passage: str) -> dict[str, Any]:
    """The quotes of ``answer`` and those missing from ``passage``; ``verified`` only when
    there is at least one quote and none is missing."""
    quotes = quotes_in(answer)
    missing = missing_quotes(quotes, passage)
    return {"quotes": quotes, "missing": missing, "verified": bool(quotes) and not missing}
