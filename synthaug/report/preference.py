"""Preference pairs in a data file, in the shapes synthaug writes them.

- The pair records of the preference steps: a prompt column (``instruction``, ``prompt`` or
  ``question``), ``chosen`` and ``rejected`` strings, ``chosen_score``/``rejected_score``
  (null without a judge); both sides null: a row that made no pair.
- ``synthaug export --format dpo|orpo``: ``prompt`` (ending with a blank line), ``chosen``,
  ``rejected``; conversational: lists of ``{"role", "content"}`` messages.
- ``--format rm``: ``chosen`` and ``rejected`` only, each the whole exchange (plain: prompt,
  a blank line, response; the shared prompt is split off; conversational: the messages).

``kto`` rows are not pairs (``prompt``, ``completion``, ``label``): their labels show among
the report's label distributions. Ties: pairs whose scores are equal, and rows a step dropped
as ties (error kinds ``tie``, RLAIF pairwise, and ``tied``, Self-Rewarding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..export.formats import PROMPT_COLUMNS, SEPARATOR, is_unpaired

TIE_ERRORS = ("tie", "tied")


@dataclass(frozen=True)
class Pair:
    """One pair's texts (responses only) and scores."""

    prompt: str | None
    chosen: str
    rejected: str
    chosen_score: float | None
    rejected_score: float | None

    @property
    def margin(self) -> float | None:
        if self.chosen_score is None or self.rejected_score is None:
            return None
        return self.chosen_score - self.rejected_score


@dataclass
class PairCounts:
    """Counted over every row of the file."""

    pairs: int = 0
    unpaired: int = 0  # chosen and rejected both null
    scored: int = 0
    ties: int = 0  # equal scores
    identical: int = 0  # the same response on both sides
    chosen_longer: int = 0

    def add(self, record: dict[str, Any]) -> None:
        if is_unpaired(record):
            self.unpaired += 1
        elif (pair := pair_of(record)) is not None:
            self.pairs += 1
            self.identical += pair.chosen == pair.rejected
            self.chosen_longer += len(pair.chosen) > len(pair.rejected)
            if (margin := pair.margin) is not None:
                self.scored += 1
                self.ties += margin == 0


def pair_of(record: dict[str, Any]) -> Pair | None:
    """The pair in ``record``; None when it has no complete pair."""
    chosen, rejected = record.get("chosen"), record.get("rejected")
    prompt = _prompt(record)
    if prompt is None and isinstance(chosen, list) and len(chosen) > 1:
        prompt = _last(chosen[:-1], "user")  # a conversational reward-model pair
    chosen_text, rejected_text = _response(chosen), _response(rejected)
    if chosen_text is None or rejected_text is None:
        return None
    if prompt is None and isinstance(chosen, str):  # a plain reward-model pair
        prompt, chosen_text, rejected_text = _split_prompt(chosen_text, rejected_text)
    return Pair(
        prompt,
        chosen_text,
        rejected_text,
        _number(record.get("chosen_score")),
        _number(record.get("rejected_score")),
    )


def _prompt(record: dict[str, Any]) -> str | None:
    for column in PROMPT_COLUMNS:
        value = record.get(column)
        if isinstance(value, str):
            return value.removesuffix(SEPARATOR)
        if isinstance(value, list):
            return _last(value, "user")
    return None


def _response(side: Any) -> str | None:
    """A side's response: the string, or the content of its last message."""
    if isinstance(side, str):
        return side
    if isinstance(side, list) and side and isinstance(side[-1], dict):
        content = side[-1].get("content")
        return content if isinstance(content, str) else None
    return None


def _last(messages: list[Any], role: str) -> str | None:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == role:
            content = message.get("content")
            return content if isinstance(content, str) else None
    return None


def _split_prompt(chosen: str, rejected: str) -> tuple[str | None, str, str]:
    """The prompt both sides start with (up to their last shared blank line), and the rest."""
    cut = chosen.rfind(SEPARATOR, 0, _shared_prefix(chosen, rejected))
    if cut <= 0:
        return None, chosen, rejected
    rest = cut + len(SEPARATOR)
    return chosen[:cut], chosen[rest:], rejected[rest:]


def _shared_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (by halving: string compares run in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
