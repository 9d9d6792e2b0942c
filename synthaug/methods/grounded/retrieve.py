"""The ``retrieve`` step: for each row's query, the best chunks of a chunks file (the
``synthaug retrieve`` command asks the same index from the command line)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ...engine.step import MapStep, StepContext
from ...io import read_records
from ...llm.embeddings import Embedder
from ...records import derive
from ...retrieval import BM25Index, DenseIndex, HybridIndex, Index
from ..common.embedders import EmbedderParams, make_embedder
from ..registry import register


class RetrievalParams(EmbedderParams):
    """How chunks are searched: the mode, k and BM25's settings (and the embedder's)."""

    mode: Literal["bm25", "dense", "hybrid"] = Field(
        "bm25", description="bm25 (bm25s), dense (embeddings) or hybrid (reciprocal rank fusion)"
    )
    k: int = Field(5, ge=1, description="chunks per query")
    k1: float = Field(1.5, gt=0, description="BM25 term-frequency saturation")
    b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation")
    stopwords: bool = Field(True, description="BM25: leave English stop words out")


def build_index(
    texts: list[str], params: RetrievalParams, embedder: Callable[[], tuple[Embedder, Any]]
) -> Index:
    """The index ``params.mode`` names over ``texts``; ``embedder()`` gives the embedder and
    its vector cache, asked only for dense and hybrid retrieval."""
    parts: list[Index] = []
    if params.mode in ("bm25", "hybrid"):
        parts.append(BM25Index(texts, params.k1, params.b, "en" if params.stopwords else None))
    if params.mode in ("dense", "hybrid"):
        parts.append(DenseIndex(texts, *embedder()))
    return parts[0] if len(parts) == 1 else HybridIndex(parts)


class RetrieveParams(RetrievalParams):
    chunks: str | None = Field(
        None, description="chunks file (from `synthaug ingest`): text and chunk_id"
    )
    shipped: str | None = Field(
        None, description="instead of chunks: a chunks file shipped in synthaug/data, by name"
    )
    query_column: str = Field("question", description="the column holding each row's query")
    output_column: str = Field("retrieved", description="where the [{chunk_id, score}] go")

    @field_validator("chunks")
    @classmethod
    def _chunks_exist(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"{value}: no such chunks file")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> RetrieveParams:
        if (self.chunks is None) == (self.shipped is None):
            raise ValueError("give one of chunks (a file) or shipped (a file in synthaug/data)")
        if self.shipped is not None and not Path(self.path).is_file():
            raise ValueError(f"shipped: no chunks file {self.shipped!r} in synthaug/data")
        return self

    @property
    def path(self) -> str:
        """The chunks file searched."""
        if self.chunks is not None:
            return self.chunks
        return str(resources.files("synthaug") / "data" / str(self.shipped))


@register(
    "retrieve",
    taxonomy="retrieval",
    stage="any",
    paper="Robertson & Zaragoza 2009 (BM25); Cormack et al. 2009 (reciprocal rank fusion)",
)
class Retrieve(MapStep):
    """For each row's query, the ``k`` best chunks by BM25, embeddings or both (RRF).

    Input columns: ``query_column``. Output columns: ``output_column``, a list of
    ``{chunk_id, score}`` best first (BM25 leaves out chunks sharing no word with the query).
    """

    Params = RetrieveParams
    params: RetrieveParams

    @classmethod
    def seed_files(cls, params: dict[str, Any]) -> dict[str, str]:
        shipped = params.get("shipped")
        return {"chunks": shipped} if shipped and not params.get("chunks") else {}

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self._index: Index | None = None
        self._ids: list[str] = []

    def input_columns(self) -> set[str]:
        return {self.params.query_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | {self.params.output_column}

    def index(self, ctx: StepContext) -> Index:
        """The index of the chunks file, built on first use."""
        if self._index is None:
            p = self.params
            chunks = list(read_records(p.path, required=("text", "chunk_id")))
            self._ids = [str(chunk["chunk_id"]) for chunk in chunks]
            texts = [str(chunk["text"]) for chunk in chunks]
            self._index = build_index(texts, p, lambda: make_embedder(p, ctx))
        return self._index

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        hits = self.index(ctx).search([str(row[p.query_column])], p.k)[0]
        found = [{"chunk_id": self._ids[hit.index], "score": round(hit.score, 6)} for hit in hits]
        return [derive(row, {p.output_column: found}, step=self.name, method=self.method)]
