"""What every index answers: per query, the best texts with their scores."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    index: int  # position of the text in the indexed list
    score: float


class Index(ABC):
    """Texts searchable by query."""

    @abstractmethod
    def __len__(self) -> int:
        """How many texts are indexed."""

    @abstractmethod
    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """For each query, up to ``k`` hits, best first (ties by index)."""
