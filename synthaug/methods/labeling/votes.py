"""Aggregating several answers for one item: majority vote, vote share and entropy."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

UNPARSED = None  # an answer that did not parse: its own value in the entropy (CoAnnotating)


def majority(
    answers: Sequence[str | None],
    order: Sequence[str],
    tie_scores: Mapping[str, float] | None = None,
) -> str | None:
    """The most frequent parsed answer; a tie goes to the highest of ``tie_scores`` (e.g. the
    mean stated confidence), then to the label listed first in ``order``."""
    counts = Counter(a for a in answers if a is not UNPARSED)
    if not counts:
        return None
    top = max(counts.values())
    tied = [name for name in order if counts.get(name) == top]
    scores = tie_scores or {}
    return max(tied, key=lambda name: scores.get(name, float("-inf")))


def vote_counts(answers: Sequence[str | None], order: Sequence[str]) -> dict[str, int]:
    """``{label: count}`` of the parsed answers, labels in ``order`` (absent ones left out)."""
    counts = Counter(a for a in answers if a is not UNPARSED)
    return {name: counts[name] for name in order if counts[name]}


def entropy_bits(answers: Sequence[str | None]) -> float:
    """−Σ p log2 p over the answer distribution, unparsed answers one more value."""
    counts = Counter(answers)
    total = sum(counts.values())
    if not total:
        return 0.0
    value = -sum(c / total * math.log2(c / total) for c in counts.values())
    return round(abs(value), 6)  # abs: -0.0 for a unanimous vote
