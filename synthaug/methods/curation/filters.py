"""Row-by-row curation steps: decontamination, PII redaction, heuristic quality filters."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...curate.benchmarks import BUILTIN, DEFAULT_BENCHMARKS, Kind, load_benchmarks
from ...curate.decontaminate import Mode, lexical_detectors
from ...curate.heuristics import DEFAULT_RULES, RULES, Language, LengthBounds, QualityFilter
from ...curate.llm_decontaminator import SemanticDecontaminator
from ...curate.pii import redact_columns
from ...curate.text import row_text
from ...engine.step import MapStep, StepContext
from ...records import META
from ..common.embedders import EmbedderParams, make_embedder
from ..registry import register


class DecontaminateParams(EmbedderParams):
    """The options of the ``decontaminate`` step and of ``synthaug decontaminate``."""

    columns: list[str] = Field(min_length=1)
    benchmarks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BENCHMARKS),
        min_length=1,
        description="built-in benchmarks (" + ", ".join(BUILTIN) + ") or data files",
    )
    benchmark_fields: list[str] | None = Field(None, description="text fields of a benchmark file")
    benchmark_id: str | None = Field(
        None, description="id field of a benchmark file (default: row number)"
    )
    benchmark_kind: Kind = Field(
        "knowledge", description="semantic: a benchmark file's kind, for the judge's instruction"
    )
    mode: Mode = Field("overlap", description="detector(s); all = overlap, fuzzy and semantic")
    n: int | None = Field(None, ge=1, description="overlap/coverage: n-gram length (13 / 8)")
    threshold: float = Field(0.7, gt=0, le=1, description="coverage: share of an item's n-grams")
    fuzzy_threshold: float = Field(
        0.7, gt=0, le=1, description="fuzzy: token edit similarity of an item to the row"
    )
    top_k: int = Field(1, ge=1, description="semantic: nearest benchmark items judged per row")
    min_similarity: float = Field(
        0.7,
        ge=-1,
        le=1,
        description="semantic: cosine below which an item is not judged (without a judge: "
        "at or above which the row is contaminated)",
    )
    judge: bool = Field(True, description="semantic: ask the model 'same question?'")
    judge_backend: str | None = None  # a recipe's named backend for the judge; None: default
    constrained: bool = Field(True, description="semantic: grammar-constrained True/False")
    action: Literal["drop", "flag"] = "drop"


@register(
    "decontaminate",
    taxonomy="curation / decontamination",
    stage="any",
    paper="Brown et al. 2020 (GPT-3, 13-gram overlap); Chowdhery et al. 2022 (PaLM, 8-gram "
    "coverage); Li et al. 2023 (StarCoder substrings); Yang et al. 2023 (rephrased samples: "
    "embeddings + LLM judge)",
)
class Decontaminate(MapStep):
    """Drop (or flag) rows that contain benchmark items: n-grams, substrings, fuzzy, semantic.

    Modes and what each follows are in ``synthaug.curate.decontaminate``. With ``action:
    flag`` every row keeps ``contaminated`` (bool) and ``contamination``: each hit with its
    detector, benchmark, item id, similarity and evidence (a semantic candidate the judge
    cleared is listed with ``contaminated: false``). Semantic mode calls the recipe's model
    (or the named ``judge_backend``) once per candidate, and embeds with ``embedder``.
    """

    Params = DecontaminateParams
    writes = ("contaminated", "contamination")
    backend_params = ("judge_backend",)

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        p = self.params
        items = load_benchmarks(p.benchmarks, p.benchmark_fields, p.benchmark_id, p.benchmark_kind)
        self.detectors = lexical_detectors(items, p.mode, p.n, p.threshold, p.fuzzy_threshold)
        self.items = items
        self.semantic: SemanticDecontaminator | None = None

    @property
    def uses_llm(self) -> bool:  # type: ignore[override]
        return self.params.mode in ("semantic", "all") and self.params.judge

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | (set(self.writes) if self.params.action == "flag" else set())

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        text = row_text(row, p.columns)
        hits = [hit for detector in self.detectors for hit in detector.check([text])[0]]
        if p.mode in ("semantic", "all"):
            if self.semantic is None:
                embedder, cache = make_embedder(p, ctx)
                self.semantic = SemanticDecontaminator(
                    self.items,
                    embedder,
                    cache,
                    p.top_k,
                    p.min_similarity,
                    constrained=p.constrained,
                )
            [candidates] = self.semantic.nearest([text])
            if p.judge:
                client = ctx.require_llm(p.judge_backend)
                hits += await self.semantic.judge(client, candidates, ctx.seed(row[META]["id"]))
            else:
                hits += self.semantic.unjudged(candidates)
        contaminated = any(hit.contaminated for hit in hits)
        if p.action == "drop":
            return [] if contaminated else [row]
        return [
            {
                **row,
                "contaminated": contaminated,
                "contamination": [asdict(hit) for hit in hits],
            }
        ]


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
