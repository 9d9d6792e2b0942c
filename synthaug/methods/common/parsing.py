"""Parsers for model replies that several methods read."""

from __future__ import annotations

import json
from typing import Any

from ...engine.step import RowError
from ...llm.types import Completion, json_object


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


def json_reply(completion: Completion) -> dict[str, Any]:
    """The JSON object a model replied with; ``RowError`` ``malformed_output`` when the reply
    is not one, saying when it was cut off at ``max_tokens``."""
    answer = json_object(completion.text)
    if not answer:
        cut = " (cut off at max_tokens)" if completion.choices[0].finish_reason == "length" else ""
        raise RowError(
            "malformed_output", f"the reply is not a JSON object{cut}: {completion.text[:200]!r}"
        )
    return answer
