"""Which embedder a step uses, and getting it from the run's resources."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import StepContext
from ...llm.cache import RequestCache
from ...llm.embeddings import Embedder, EmbedderSpec


class EmbedderParams(BaseModel):
    """Which embedder a step uses (the bundled MiniLM or an OpenAI-compatible endpoint)."""

    model_config = ConfigDict(extra="forbid")
    embedder: Literal["minilm", "endpoint"] = Field(
        "minilm",
        description="minilm: the bundled all-MiniLM-L6-v2 (embeddings extra); "
        "endpoint: an OpenAI-compatible /embeddings",
    )
    base_url: str | None = Field(None, description="endpoint: e.g. http://127.0.0.1:8000/v1")
    model: str | None = Field(None, description="endpoint: the embedding model's name")
    api_key_env: str = Field("OPENAI_API_KEY", description="endpoint: variable with the key")
    cache: bool = True  # keep vectors in the run's cache (none with --no-cache)

    @model_validator(mode="after")
    def _endpoint_needs_url(self) -> EmbedderParams:
        if self.embedder == "endpoint" and not (self.base_url and self.model):
            raise ValueError("embedder: endpoint needs base_url and model")
        return self


def make_embedder(params: EmbedderParams, ctx: StepContext) -> tuple[Embedder, RequestCache | None]:
    """The embedder a step asked for, opened once per run, and the run's cache for its
    vectors (None with ``--no-cache`` or ``cache: false``)."""
    spec = EmbedderSpec(params.embedder, params.base_url, params.model, params.api_key_env)
    return ctx.embedder(spec), ctx.cache if params.cache else None
