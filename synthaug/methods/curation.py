"""Curation as pipeline steps: dedup (exact, near, semantic), decontamination, filters, PII.

The algorithms live in :mod:`synthaug.curate`; the standalone commands
(``synthaug dedup``, ``synthaug decontaminate``) use the same code.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..curate.decontaminate import Decontaminator, load_benchmark
from ..curate.duplicates import (
    Duplicate,
    ExactDuplicates,
    Keep,
    NearDupConfig,
    NearDuplicates,
    preference,
)
from ..curate.embeddings import Embedder, Endpoint, MiniLM, embed_cached
from ..curate.heuristics import DEFAULT_RULES, RULES, Language, LengthBounds, QualityFilter
from ..curate.pii import redact_columns
from ..curate.prune import prune
from ..curate.semantic import SemanticDuplicates
from ..curate.text import Normalization, row_text
from ..engine.step import MapStep, StepContext, WholeStep
from ..llm.cache import RequestCache, default_cache_path
from .registry import register


class _DedupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)
    keep: Keep = "first"
    score_column: str | None = None

    @model_validator(mode="after")
    def _score_needs_column(self) -> _DedupParams:
        if self.keep == "score" and not self.score_column:
            raise ValueError("keep: score needs score_column")
        return self


class _DedupStep(WholeStep):
    params: _DedupParams

    def input_columns(self) -> set[str]:
        columns = set(self.params.columns)
        return columns | {self.params.score_column} if self.params.score_column else columns

    @abstractmethod
    def detector(self) -> ExactDuplicates | NearDuplicates:
        """A fresh detector configured from the params."""

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        detector = self.detector()
        held: list[dict[str, Any]] = []
        async for row in rows:
            held.append(row)
            text = row_text(row, self.params.columns)
            detector.add(
                [text], [preference(row, text, self.params.keep, self.params.score_column)]
            )
        duplicates: dict[int, Duplicate] = await asyncio.to_thread(detector.resolve)
        for index, row in enumerate(held):
            if index not in duplicates:
                yield row


class DedupExactParams(_DedupParams):
    lowercase: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False
    nfkc: bool = True


@register("dedup_exact", taxonomy="curation / deduplication", stage="any", paper="-")
class DedupExact(_DedupStep):
    """Drop rows whose normalised key columns repeat another row's (keep policy: first, longest, score)."""

    Params = DedupExactParams

    def detector(self) -> ExactDuplicates:
        p = self.params
        return ExactDuplicates(
            Normalization(p.lowercase, p.collapse_whitespace, p.strip_punctuation, p.nfkc)
        )


class DedupNearParams(_DedupParams):
    threshold: float = Field(0.8, gt=0, le=1)
    ngram: int = Field(5, ge=1)
    bands: int = Field(20, ge=1)
    rows: int = Field(6, ge=1)
    confirm: Literal["auto", "exact", "signature"] = "auto"


@register(
    "dedup_near",
    taxonomy="curation / deduplication",
    stage="pre-training, fine-tuning",
    paper="Broder 1997 (MinHash); Lee et al. 2022, Deduplicating Training Data Makes LMs Better",
)
class DedupNear(_DedupStep):
    """Drop near-duplicates by MinHash LSH on word 5-grams, confirmed by Jaccard ≥ 0.8."""

    Params = DedupNearParams

    def detector(self) -> NearDuplicates:
        p = self.params
        return NearDuplicates(
            NearDupConfig(p.threshold, p.ngram, p.bands, p.rows, confirm=p.confirm)
        )


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


class EmbedderParams(BaseModel):
    """Which embedder a step uses (the bundled MiniLM or an OpenAI-compatible endpoint)."""

    model_config = ConfigDict(extra="forbid")
    embedder: Literal["minilm", "endpoint"] = "minilm"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    cache: bool = True

    @model_validator(mode="after")
    def _endpoint_needs_url(self) -> EmbedderParams:
        if self.embedder == "endpoint" and not (self.base_url and self.model):
            raise ValueError("embedder: endpoint needs base_url and model")
        return self


def make_embedder(params: EmbedderParams, ctx: StepContext) -> tuple[Embedder, RequestCache | None]:
    """The embedder and cache a step asked for (the run's request cache when it has one)."""
    cache = None
    if params.cache:
        cache = ctx.llm.cache if ctx.llm and ctx.llm.cache else RequestCache(default_cache_path())
    if params.embedder == "endpoint":
        return Endpoint(params.base_url, params.model, params.api_key_env), cache  # type: ignore[arg-type]
    return MiniLM(cache=cache), cache


class DedupSemanticParams(EmbedderParams):
    columns: list[str] = Field(min_length=1)
    epsilon: float = Field(0.01, gt=0, lt=1)
    clusters: int | None = Field(None, ge=1)


@register(
    "dedup_semantic",
    taxonomy="curation / deduplication",
    stage="pre-training, fine-tuning",
    paper="Abbas et al. 2023, SemDeDup (arXiv 2303.09540)",
)
class DedupSemantic(WholeStep):
    """SemDeDup: drop rows whose embedding is within epsilon (cosine) of another in its k-means cluster."""

    Params = DedupSemanticParams

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        texts = [row_text(row, self.params.columns) for row in held]
        removed = await asyncio.to_thread(self._removed, texts, ctx)
        for index, row in enumerate(held):
            if index not in removed:
                yield row

    def _removed(self, texts: list[str], ctx: StepContext) -> dict[int, Duplicate]:
        p = self.params
        cache = None
        if p.cache:
            cache = (
                ctx.llm.cache if ctx.llm and ctx.llm.cache else RequestCache(default_cache_path())
            )
        embedder: Embedder = (
            Endpoint(p.base_url, p.model, p.api_key_env)  # type: ignore[arg-type]
            if p.embedder == "endpoint"
            else MiniLM(cache=cache)
        )
        detector = SemanticDuplicates(embedder, cache, p.epsilon, p.clusters)
        detector.add(texts)
        return detector.resolve()


class PruneParams(EmbedderParams):
    columns: list[str] = Field(min_length=1)
    fraction: float = Field(0.1, gt=0, le=1)
    metric: Literal["diversity", "density"] = "diversity"
    clusters: int | None = Field(None, ge=1)
    pca: int | None = Field(None, ge=1)


@register(
    "prune_clusters",
    taxonomy="curation / pruning of redundant synthetic data",
    stage="fine-tuning, instruction tuning",
    paper="Tsai et al. 2024, Code Less, Align More (arXiv 2407.05040)",
)
class PruneClusters(WholeStep):
    """Keep a fraction of each embedding cluster by diversity or low density (Tsai et al. 2024)."""

    Params = PruneParams

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        kept = await asyncio.to_thread(
            self._kept, [row_text(r, self.params.columns) for r in held], ctx
        )
        for index in kept:
            yield held[index]

    def _kept(self, texts: list[str], ctx: StepContext) -> list[int]:
        p = self.params
        embedder, cache = make_embedder(p, ctx)
        vectors = embed_cached(embedder, texts, cache)
        return prune(vectors, p.fraction, p.metric, p.clusters, p.pca)
