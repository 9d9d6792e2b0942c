"""Simulation-grounded physics problems (Mind's Eye, Liu et al., 2022, arXiv 2210.05359: ground
the answer in a physics simulation rather than in the language model's own reasoning).

``physics.simulate`` makes templated problems from the simulators in ``synthaug.mathgen.physics``
(kinematics, free fall with optional air drag, 1-D collisions, incline with friction); each
answer is a closed form cross-checked by an RK4 simulation, stored with its ``unit`` and a
``generator`` verification. ``physics.phrase`` has the model retell the templated question as a
natural word problem while the computed answer stays as it is; a phrasing that drops, changes or
adds a number is rejected (``phrasing_kept`` false, the templated question kept).
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import chat
from ...mathgen import GENERATORS, PHYSICS
from ...records import META
from ..common.generators import GeneratorSource, check_generators
from ..registry import register
from ..templates import render

PAPER = "Liu et al., 2022, Mind's Eye (arXiv 2210.05359)"
TAXONOMY = "synthesis / simulation-grounded generation"
STAGE = "reasoning"
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")
INSTRUCTION = re.compile(
    r"\s*((?:Take g = [\d.]+ m/s² and give|Give) the answer in .* significant figures\.)\s*$"
)
SYSTEM = "You rewrite physics exercises as short, natural word problems."


def full_name(name: str) -> str:
    """``free_fall`` is short for ``physics.free_fall``."""
    return f"physics.{name}" if name not in GENERATORS and f"physics.{name}" in GENERATORS else name


class SimulateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenarios: list[str] = Field(default_factory=lambda: list(PHYSICS), min_length=1)
    count: int = Field(200, ge=1)  # records in all, the scenarios taken in turn
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per scenario
    unique: bool = True

    @field_validator("scenarios")
    @classmethod
    def _full_names(cls, names: list[str]) -> list[str]:
        return [full_name(n) for n in names]

    @field_validator("params")
    @classmethod
    def _full_param_names(cls, params: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {full_name(n): p for n, p in params.items()}

    @model_validator(mode="after")
    def _scenarios_work(self) -> SimulateParams:
        check_generators(self.scenarios, self.params)
        return self


@register("physics.simulate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Simulate(GeneratorSource):
    """Mind's Eye: physics problems whose answers come from a simulator, with worked solutions."""

    Params = SimulateParams
    writes = (*GeneratorSource.writes, "unit", "simulated")

    def generator_names(self) -> list[str]:
        return self.params.scenarios


def numbers(text: str) -> list[str]:
    """Every number written in ``text``, repeats included, unsigned and canonical (``9.80`` ->
    ``9.8``, ``1,200`` -> ``1200``), sorted by value."""
    found = [format(Decimal(m.replace(",", "")).normalize(), "f") for m in NUMBER.findall(text)]
    return sorted(found, key=Decimal)


def check_numbers(templated: str, phrased: str, allow_extra: bool = False) -> dict[str, Any]:
    """Whether ``phrased`` keeps the numbers of ``templated`` (each as often as it occurs there)
    and still asks a question: a missing number (dropped or changed) always fails, an extra one
    unless ``allow_extra``."""
    given, written = Counter(numbers(templated)), Counter(numbers(phrased))
    missing = sorted((given - written).elements(), key=Decimal)
    extra = sorted((written - given).elements(), key=Decimal)
    asks = "?" in phrased
    ok = asks and not missing and (allow_extra or not extra)
    return {
        "numbers": numbers(templated),
        "missing": missing,
        "extra": extra,
        "asks_question": asks,
        "ok": ok,
    }


def split_instruction(question: str) -> tuple[str, str]:
    """The problem and its closing 'Give the answer in ... significant figures.' sentence."""
    match = INSTRUCTION.search(question)
    if not match:
        return question, ""
    return question[: match.start()], match.group(1)


def clean_phrasing(text: str) -> str:
    """The rewritten problem: the first paragraph, without a label or quotes."""
    text = text.strip()
    text = re.sub(r"^(rewritten problem|problem|word problem)\s*:\s*", "", text, flags=re.I)
    text = re.split(r"\n\s*\n|\n\s*(?:rewritten )?problem\s*:", text, flags=re.I)[0]
    text = text.strip().strip('"').strip()
    return " ".join(text.split())


class PhraseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allow_extra_numbers: bool = False
    on_reject: Literal["template", "error"] = "template"  # keep the templated question, or fail
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)


@register("physics.phrase", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Phrase(MapStep):
    """Mind's Eye: the model retells a simulated problem naturally; the computed answer stays."""

    Params = PhraseParams
    reads = ("question", "answer")
    writes = ("question", "templated_question", "phrasing", "phrasing_kept", "phrasing_check")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        templated = row.get("templated_question") or row["question"]
        problem, instruction = split_instruction(templated)
        seed = ctx.seed(row[META]["id"])
        request = chat(
            ("system", SYSTEM),
            ("user", render(__file__, "physics_phrase.j2", problem=problem)),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=seed,
        )
        phrased = clean_phrasing((await ctx.require_llm().complete(request)).text)
        check = check_numbers(problem, phrased, p.allow_extra_numbers)
        if not check["ok"] and p.on_reject == "error":
            raise RowError(
                "phrasing_rejected",
                f"numbers missing {check['missing']}, extra {check['extra']}, "
                f"asks a question: {check['asks_question']}",
            )
        question = " ".join(filter(None, [phrased, instruction])) if check["ok"] else templated
        fields: dict[str, Any] = {
            "question": question,
            "templated_question": templated,
            "phrasing": phrased,
            "phrasing_kept": check["ok"],
            "phrasing_check": check,
        }
        if "messages" in row:
            fields["messages"] = [
                {**m, "content": question} if m["role"] == "user" else m for m in row["messages"]
            ]
        return [self.derived(row, fields, ctx, [request], seed=seed)]
