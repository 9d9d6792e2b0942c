"""Params shared by steps that may sample several answers (self-consistency)."""

from __future__ import annotations

from pydantic import BaseModel, model_validator


class SelfConsistency(BaseModel):
    """``samples`` and ``temperature`` (None: 0 for one sample, else 0.7, the temperature of
    Wang et al., 2022, "Self-Consistency Improves Chain of Thought Reasoning", arXiv
    2203.11171); several samples at temperature 0 would be identical, so it is refused.
    Subclasses declare both fields with their own bounds and defaults."""

    samples: int
    temperature: float | None

    @model_validator(mode="after")
    def _sampling_needs_temperature(self) -> SelfConsistency:
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("samples > 1 needs temperature > 0 (identical answers otherwise)")
        return self

    @property
    def sampling_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 0.7
