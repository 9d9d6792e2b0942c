"""Parsers for model replies that several methods read."""

from __future__ import annotations

import json

from ...engine.step import RowError


def parse_rating(text: str) -> tuple[float, str]:
    """Score and explanation from the rating JSON (an explanation cut off by max_tokens is kept)."""
    try:
        data = json.loads(text)
        return float(data["score"]), str(data["explanation"])
    except (ValueError, KeyError, TypeError):
        head = text.split('"explanation"')[0]
        try:
            score = float(head.split(":", 1)[1].strip().rstrip(",").strip())
        except (IndexError, ValueError):
            raise RowError("parse_error", f"no score in rating: {text[:80]!r}") from None
        return score, ""
