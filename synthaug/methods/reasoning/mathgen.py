"""Scripted math problems with computed answers (AMPS, Hendrycks et al., 2021, "Measuring
Mathematical Problem Solving With the MATH Dataset", arXiv 2103.03874: the Khan Academy /
Mathematica-style pretraining set of generated exercises with step-by-step solutions).

No model is involved: each record is made by a generator from ``synthaug.mathgen`` (arithmetic,
fractions, linear equations, 2x2/3x3 systems, polynomials, calculus, probability, physics or an
installed plugin) with a per-record seed, and carries ``verification`` of kind ``generator``
(name, seed, params, answer) so that ``synthaug.mathgen.regenerate`` re-makes it exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import SourceStep, StepContext
from ...mathgen import MATH, GeneratorError, regenerate
from ...records import META, record_id
from ...verify.evidence import verdict
from ..registry import register

PAPER = "Hendrycks et al., 2021, MATH / AMPS (arXiv 2103.03874)"
TAXONOMY = "synthesis / programmatic generation (scripted problems, computed answers)"
STAGE = "reasoning"
CORE = ("question", "answer", "solution", "params")
RETRIES = 50  # fresh seeds tried per slot before a duplicate question gives the slot up


def check_generators(names: list[str], params: dict[str, dict[str, Any]]) -> None:
    """Make one item per generator now, so that unknown names, bad parameters and broken
    plugins fail when the recipe is built (a ``ValueError``, shown under ``params``)."""
    stray = sorted(set(params) - set(names))
    if stray:
        raise ValueError(f"params given for generators not in the list: {', '.join(stray)}")
    for name in dict.fromkeys(names):
        try:
            regenerate(name, 0, params.get(name))
        except (ValueError, GeneratorError) as exc:
            raise ValueError(str(exc)) from None


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


class GeneratorSource(SourceStep):
    """Records from scripted generators, taken in turn, one seed per record."""

    writes = ("question", "answer", "solution", "generator", "messages", "verification")

    def generator_names(self) -> list[str]:
        return self.params.generators

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        names, seen = self.generator_names(), set()
        for slot in range(self.params.count):
            name = names[slot % len(names)]
            for attempt in range(RETRIES if self.params.unique else 1):
                seed = ctx.seed(name, slot, attempt)
                made = regenerate(name, seed, self.params.params.get(name))
                if made["question"] not in seen:
                    break
            else:
                continue  # this generator keeps repeating itself: leave the slot empty
            seen.add(made["question"])
            yield self.record(name, seed, made, slot)

    def record(self, name: str, seed: int, made: dict[str, Any], slot: int) -> dict[str, Any]:
        extra = {k: v for k, v in made.items() if k not in CORE}
        return {
            "question": made["question"],
            "answer": made["answer"],
            "solution": made["solution"],
            "generator": name,
            **extra,
            "messages": [
                {"role": "user", "content": made["question"]},
                {"role": "assistant", "content": made["solution"]},
            ],
            "verification": verdict(
                "generator",
                True,
                generator=name,
                seed=seed,
                params=made["params"],
                answer=made["answer"],
            ),
            META: {
                "id": record_id(self.name, slot),
                "parents": [],
                "step": self.name,
                "method": self.method,
                "seed": seed,
            },
        }


@register("mathgen.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(GeneratorSource):
    """AMPS-style scripted math problems with exact, computed answers and worked solutions."""

    Params = GenerateParams
