"""Selection steps that rank the whole dataset by a model-based score.

- ``select.deita`` (Liu et al., ICLR 2024): sort by evol score, then the Repr
  Filter: take a row only if its highest cosine similarity to the rows already
  taken is ≤ τ = 0.9, until the budget. The paper embeds with Llama-13B; here
  the bundled all-MiniLM-L6-v2 or an OpenAI-compatible embeddings endpoint.
- ``select.ifd`` (Li et al., NAACL 2024): drop rows with IFD > 1 (the
  instruction does not help) and rows without a score, then keep the top
  ``sample_rate`` (reference default 10 %; its README script 6 %) of the rows
  left, ``int(rows left × sample_rate)`` of them, rounded down as the reference
  does; ties on IFD go to the later row, as in the reference's ascending sort of
  (IFD, index). Differs: the reference keeps every row left when that count is
  0 (its slice ``[-0:]``); here it keeps none. The scores come from
  ``score.ifd``, whose model replaces the paper's pre-experienced one (see
  ``scores.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import StepContext
from ...llm.embeddings import embed_cached
from ..common.embedders import EmbedderParams, make_embedder
from ..common.steps import KeepRows
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
class DeitaSelect(KeepRows):
    """Deita selection: best evol score first, skipping rows within cosine 0.9 of those taken."""

    Params = DeitaSelectParams

    def input_columns(self) -> set[str]:
        return {self.params.score_column}

    def kept(self, rows: list[dict[str, Any]], texts: list[str], ctx: StepContext) -> list[int]:
        p = self.params
        embedder, cache = make_embedder(p, ctx)
        vectors = embed_cached(embedder, texts, cache)
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
class IFDSelect(KeepRows):
    """Cherry data: drop IFD > 1, keep the top 10 % of the rows left by IFD (rounded down)."""

    Params = IFDSelectParams

    def text_columns(self) -> list[str]:
        return []

    def input_columns(self) -> set[str]:
        return {self.params.column}

    def kept(self, rows: list[dict[str, Any]], texts: list[str], ctx: StepContext) -> list[int]:
        return ifd_top(
            [_number(row.get(self.params.column)) for row in rows], self.params.sample_rate
        )


def ifd_top(scores: list[float], sample_rate: float) -> list[int]:
    """Indices of the top ``int(n × sample_rate)`` of the ``n`` finite scores ≤ 1, by score."""
    left = sorted(
        (score, i) for i, score in enumerate(scores) if math.isfinite(score) and score <= 1
    )
    budget = int(len(left) * sample_rate)
    return [i for _, i in left[len(left) - budget :]]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("-inf")
