"""Selection steps that rank the whole dataset by a model-based score.

- ``select.deita`` (Liu et al., ICLR 2024): sort by evol score, then the Repr
  Filter: take a row only if its highest cosine similarity to the rows already
  taken is ≤ τ = 0.9, until the budget. The paper embeds with Llama-13B; here
  the bundled all-MiniLM-L6-v2 or an OpenAI-compatible embeddings endpoint.
- ``select.ifd`` (Li et al., NAACL 2024): drop rows with IFD > 1 (the
  instruction does not help), keep the top ``sample_rate`` (paper: 10 %) by IFD.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...curate.embeddings import embed_cached
from ...curate.text import row_text
from ...engine.step import StepContext, WholeStep
from ..curation import EmbedderParams, make_embedder
from ..registry import register
from .scores import STAGE, TAXONOMY


class DeitaSelectParams(EmbedderParams):
    budget: int = Field(6000, ge=1)  # the paper's 6K
    threshold: float = Field(0.9, gt=0, le=1)  # τ
    score_column: str = "deita_evol_score"
    columns: list[str] = Field(default_factory=lambda: ["instruction", "input", "output"])


@register(
    "select.deita",
    taxonomy=TAXONOMY,
    stage=STAGE,
    paper="Liu et al., ICLR 2024, Deita (arXiv 2312.15685)",
)
class DeitaSelect(WholeStep):
    """Deita selection: best evol score first, skipping rows within cosine 0.9 of those taken."""

    Params = DeitaSelectParams

    def input_columns(self) -> set[str]:
        return {self.params.score_column}

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        chosen = await asyncio.to_thread(self._choose, held, ctx)
        for index in sorted(chosen):
            yield held[index]

    def _choose(self, rows: list[dict[str, Any]], ctx: StepContext) -> list[int]:
        p = self.params
        embedder, cache = make_embedder(p, ctx)
        vectors = embed_cached(embedder, [row_text(r, p.columns) for r in rows], cache)
        scores = [_number(r.get(p.score_column)) for r in rows]
        return repr_filter(vectors, scores, p.budget, p.threshold)


def repr_filter(
    vectors: np.ndarray, scores: list[float], budget: int, threshold: float
) -> list[int]:
    """Indices taken best score first, skipping any within ``threshold`` cosine of a taken one."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    taken: list[int] = []
    for index in order:
        if len(taken) == budget:
            break
        if taken and float(np.max(vectors[taken] @ vectors[index])) > threshold:
            continue
        taken.append(index)
    return taken


class IFDSelectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_rate: float = Field(0.1, gt=0, le=1)
    column: str = "ifd"


@register(
    "select.ifd",
    taxonomy=TAXONOMY,
    stage=STAGE,
    paper="Li et al., NAACL 2024, Cherry LLM / IFD (arXiv 2308.12032)",
)
class IFDSelect(WholeStep):
    """Cherry data: drop IFD > 1, keep the top 10 % of rows by IFD."""

    Params = IFDSelectParams

    def input_columns(self) -> set[str]:
        return {self.params.column}

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        budget = math.ceil(len(held) * self.params.sample_rate)
        eligible = [
            (i, _number(r.get(self.params.column)))
            for i, r in enumerate(held)
            if _number(r.get(self.params.column)) <= 1
        ]
        best = sorted(eligible, key=lambda item: (-item[1], item[0]))[:budget]
        for index in sorted(i for i, _ in best):
            yield held[index]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("-inf")
