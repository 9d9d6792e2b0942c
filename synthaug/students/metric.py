"""What a student reports, for ``synthaug evaluate``'s comparison (``compare``).

A comparable student has ``metrics`` (its held-out metrics, the first one primary: the Δ
column of the table), ``describe(test)`` (report fields about the student: at least
``student``, its one-line description; ``notes``: lines printed under the table's header)
and ``score(name, train, test, seed)``: train on ``train`` with ``seed`` and return each
metric on ``test`` (None where the metric cannot be computed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Rows = Sequence[dict[str, Any]]
Scores = dict[str, float | None]  # metric name -> value (None: not computable)


@dataclass(frozen=True)
class Metric:
    """A held-out metric: its report key, its table label, its direction and format."""

    name: str
    label: str
    higher_is_better: bool = True
    percent: bool = False  # shown × 100 with one decimal
    digits: int = 3  # decimals otherwise


class Comparable(Protocol):
    metrics: tuple[Metric, ...]

    def describe(self, test: Rows) -> dict[str, Any]: ...

    def score(self, name: str, train: Rows, test: Rows, seed: int) -> Scores: ...
