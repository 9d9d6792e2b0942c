"""Which embedder a step uses, and making it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from ...curate.embeddings import Embedder, Endpoint, MiniLM
from ...engine.step import StepContext
from ...llm.cache import RequestCache, default_cache_path


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
