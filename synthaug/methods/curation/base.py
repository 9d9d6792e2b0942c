"""What the whole-input curation steps share: keeping a subset of rows, embedders."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from ...curate.text import row_text
from ...engine.step import StepContext, WholeStep
from ...llm.cache import RequestCache, default_cache_path
from ...llm.embeddings import Embedder, Endpoint, MiniLM


class KeepRows(WholeStep):
    """A whole-input step that keeps some of its rows, in input order.

    Subclasses choose from all the rows and their texts (the ``columns``
    param, one value per line); the choice runs in a worker thread.
    """

    def text_columns(self) -> list[str]:
        return list(self.params.columns)  # type: ignore[attr-defined]

    def input_columns(self) -> set[str]:
        return set(self.text_columns())

    @abstractmethod
    def kept(self, rows: list[dict[str, Any]], texts: list[str], ctx: StepContext) -> Iterable[int]:
        """Indices of the rows to keep."""

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        texts = [row_text(row, self.text_columns()) for row in held]
        keep = await asyncio.to_thread(self.kept, held, texts, ctx)
        for index in sorted(set(keep)):
            yield held[index]


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
