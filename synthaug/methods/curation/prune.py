"""Pruning of redundant synthetic data by embedding clusters (Tsai et al. 2024)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from ...curate.prune import prune
from ...engine.step import StepContext
from ...llm.embeddings import embed_cached
from ..common.embedders import EmbedderParams, make_embedder
from ..common.steps import KeepRows
from ..registry import register


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
class PruneClusters(KeepRows):
    """Keep a fraction of each embedding cluster by diversity or low density (Tsai et al. 2024)."""

    Params = PruneParams

    def kept(self, rows: list[dict[str, Any]], texts: list[str], ctx: StepContext) -> Iterable[int]:
        p = self.params
        embedder, cache = make_embedder(p, ctx)
        return prune(embed_cached(embedder, texts, cache), p.fraction, p.metric, p.clusters, p.pca)
