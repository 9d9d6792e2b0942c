"""Row-by-row curation steps: decontamination, PII redaction, heuristic quality filters."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...curate.decontaminate import Decontaminator, load_benchmark
from ...curate.heuristics import DEFAULT_RULES, RULES, Language, LengthBounds, QualityFilter
from ...curate.pii import redact_columns
from ...curate.text import row_text
from ...engine.step import MapStep, StepContext
from ..registry import register


class DecontaminateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)
    benchmarks: list[str] = Field(default_factory=lambda: ["humaneval", "mt_bench"], min_length=1)
    benchmark_fields: list[str] | None = None
    benchmark_id: str | None = None
    mode: Literal["overlap", "coverage"] = "overlap"
    n: int | None = Field(None, ge=1)
    threshold: float = Field(0.7, gt=0, le=1)
    action: Literal["drop", "flag"] = "drop"


@register(
    "decontaminate",
    taxonomy="curation / decontamination",
    stage="any",
    paper="Brown et al. 2020 (GPT-3, 13-gram overlap); Chowdhery et al. 2022 (PaLM, 8-gram coverage)",
)
class Decontaminate(MapStep):
    """Drop (or flag in ``contamination``) rows sharing n-grams with benchmark items."""

    Params = DecontaminateParams
    writes = ("contamination",)

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        p = self.params
        items = [
            item
            for spec in p.benchmarks
            for item in load_benchmark(spec, p.benchmark_fields, p.benchmark_id)
        ]
        self.index = Decontaminator(items, p.mode, p.n, p.threshold)

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | ({"contamination"} if self.params.action == "flag" else set())

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        hits = self.index.check([row_text(row, self.params.columns)])[0]
        if self.params.action == "drop":
            return [] if hits else [row]
        return [{**row, "contamination": [asdict(hit) for hit in hits]}]


class RedactParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)


@register("redact_pii", taxonomy="curation / privacy", stage="any", paper="-")
class RedactPII(MapStep):
    """Replace e-mails, phones, IPs, cards (Luhn), IBANs and secrets with typed placeholders."""

    Params = RedactParams
    writes = ("pii_redacted",)

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        redacted, counts = redact_columns(row, self.params.columns)
        return [{**redacted, "pii_redacted": dict(counts)}]


class QualityFilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)
    rules: list[str] = Field(default_factory=lambda: list(DEFAULT_RULES))
    min_words: int = Field(1, ge=0)
    max_words: int = Field(100_000, ge=1)
    languages: list[str] = Field(default_factory=lambda: ["en"])
    min_language_probability: float = Field(0.65, ge=0, le=1)

    @model_validator(mode="after")
    def _known_rules(self) -> QualityFilterParams:
        unknown = sorted(set(self.rules) - set(RULES))
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
        return self


@register(
    "quality_filter",
    taxonomy="curation / quality filtering",
    stage="pre-training, fine-tuning",
    paper="Rae et al. 2021 (Gopher); Raffel et al. 2020 (C4); Penedo et al. 2024 (FineWeb)",
)
class HeuristicQualityFilter(MapStep):
    """Drop rows failing Gopher, C4, FineWeb, length or language rules (published thresholds)."""

    Params = QualityFilterParams

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        p = self.params
        self.check = QualityFilter(
            tuple(p.rules),
            LengthBounds(p.min_words, p.max_words),
            Language(tuple(p.languages), p.min_language_probability),
        )

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        outcome = self.check(row_text(row, self.params.columns))
        if outcome.reason:
            return []
        if "c4" in self.params.rules and len(self.params.columns) == 1:
            return [{**row, self.params.columns[0]: outcome.text}]
        return [row]
