"""Deduplication steps: exact, near (MinHash LSH) and semantic (SemDeDup)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...curate.duplicates import (
    ExactDuplicates,
    Keep,
    NearDupConfig,
    NearDuplicates,
    preference,
)
from ...curate.semantic import Order, SemanticDuplicates
from ...curate.text import Normalization
from ...engine.step import StepContext
from ..common.embedders import EmbedderParams, make_embedder
from ..common.steps import KeepRows
from ..registry import register

_BATCH = 4096
TAXONOMY = "curation / deduplication"
SEMDEDUP = "Abbas et al. 2023, SemDeDup (arXiv 2303.09540)"


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


class _DedupStep(KeepRows):
    params: _DedupParams

    def input_columns(self) -> set[str]:
        columns = set(self.params.columns)
        return columns | {self.params.score_column} if self.params.score_column else columns

    @abstractmethod
    def detector(self) -> ExactDuplicates | NearDuplicates:
        """A fresh detector configured from the params."""

    def kept(self, rows: list[dict[str, Any]], texts: list[str], ctx: StepContext) -> Iterable[int]:
        p = self.params
        detector = self.detector()
        for start in range(0, len(texts), _BATCH):
            batch = texts[start : start + _BATCH]
            preferences = [
                preference(row, text, p.keep, p.score_column)
                for row, text in zip(rows[start : start + _BATCH], batch, strict=True)
            ]
            detector.add(batch, preferences)
        duplicates = detector.resolve()
        return (i for i in range(len(rows)) if i not in duplicates)


class DedupExactParams(_DedupParams):
    lowercase: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False
    nfkc: bool = True


@register("dedup_exact", taxonomy=TAXONOMY, stage="any", paper="-")
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
    taxonomy=TAXONOMY,
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


class DedupSemanticParams(EmbedderParams):
    columns: list[str] = Field(min_length=1)
    epsilon: float = Field(0.01, gt=0, lt=1)
    clusters: int | None = Field(None, ge=1)
    order: Order = Field(
        "centroid",
        description="which member of a group stays: centroid (SemDeDup: the one farthest "
        "from its k-means centroid) or input (the earliest row, as Magpie)",
    )


@register("dedup_semantic", taxonomy=TAXONOMY, stage="pre-training, fine-tuning", paper=SEMDEDUP)
class DedupSemantic(KeepRows):
    """SemDeDup: drop rows whose embedding is within epsilon (cosine) of another in its k-means cluster.

    ``order: input`` keeps the earliest row of each group instead of the one farthest from
    the centroid; with ``clusters: 1`` every pair is compared (exact, O(n²) similarities).
    """

    Params = DedupSemanticParams

    def kept(self, rows: list[dict[str, Any]], texts: list[str], ctx: StepContext) -> Iterable[int]:
        p = self.params
        embedder, cache = make_embedder(p, ctx)
        detector = SemanticDuplicates(embedder, cache, p.epsilon, p.clusters, p.order)
        detector.add(texts)
        removed = detector.resolve()
        return (i for i in range(len(rows)) if i not in removed)
