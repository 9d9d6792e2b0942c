"""Scripted math problems with computed answers (AMPS, Hendrycks et al., 2021, "Measuring
Mathematical Problem Solving With the MATH Dataset", arXiv 2103.03874: the Khan Academy /
Mathematica-style pretraining set of generated exercises with step-by-step solutions).

No model is involved: each record is made by a generator from ``synthaug.mathgen`` (arithmetic,
fractions, linear equations, 2x2/3x3 systems, polynomials, calculus, probability, physics or an
installed plugin) with a per-record seed, and carries ``verification`` of kind ``generator``
(name, seed, params, answer) so that ``synthaug.mathgen.regenerate`` re-makes it exactly.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...mathgen import MATH
from ..common.generators import GeneratorSource, check_generators
from ..registry import register

PAPER = "Hendrycks et al., 2021, MATH / AMPS (arXiv 2103.03874)"
TAXONOMY = "synthesis / programmatic generation (scripted problems, computed answers)"
STAGE = "reasoning"


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    generators: list[str] = Field(default_factory=lambda: list(MATH), min_length=1)
    count: int = Field(1000, ge=1)  # records in all, the generators taken in turn
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per generator
    unique: bool = True  # skip an item whose question was already produced

    @model_validator(mode="after")
    def _generators_work(self) -> GenerateParams:
        check_generators(self.generators, self.params)
        return self


@register("mathgen.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(GeneratorSource):
    """AMPS-style scripted math problems with exact, computed answers and worked solutions."""

    Params = GenerateParams
