"""Sampling many completions of one request."""

from __future__ import annotations

import asyncio

from ...hashing import derive_seed
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, Choice

MAX_N = 8  # samples per request; more are split over several requests (the embedded
# backend accepts at most one sample per decoding slot)


def split_samples(request: ChatRequest, max_n: int = MAX_N) -> list[ChatRequest]:
    """``request`` (asking for ``n`` samples) as requests of at most ``max_n`` samples each;
    the first keeps the request's seed, the others derive theirs from it."""
    if request.n <= max_n:
        return [request]
    sizes = [max_n] * (request.n // max_n) + ([request.n % max_n] if request.n % max_n else [])
    return [
        request.model_copy(
            update={"n": size, "seed": request.seed if j == 0 else derive_seed(request.seed, j)}
        )
        for j, size in enumerate(sizes)
    ]


async def sample(llm: LLMClient, request: ChatRequest) -> tuple[list[Choice], list[ChatRequest]]:
    """All ``request.n`` choices, and the requests actually sent (see ``split_samples``)."""
    parts = split_samples(request)
    completions = await asyncio.gather(*(llm.complete(part) for part in parts))
    return [choice for c in completions for choice in c.choices], parts
