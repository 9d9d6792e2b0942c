"""Pictures from an OpenAI-compatible image endpoint (``POST {base_url}/images/generations``,
``response_format: b64_json``), for prompts a step wrote (e.g. ALIA's).

Each picture is stored once in the image store beside the output; the request (endpoint,
model, prompt, size) is keyed in the run's request cache with the stored path as the answer,
so a resumed or repeated run does not ask again while the picture is still there. The API key
is read from ``api_key_env`` and only sent in the Authorization header; error texts are
redacted.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import httpx
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...hashing import stable_hash
from ...io.images import ImageStore
from ...llm.backend import redact
from ...llm.types import Choice, Completion


class ImageEndpoint(BaseModel):
    """Where pictures are generated (a step's ``params``)."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(
        description="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    model: str = Field(description="the image model's name at the endpoint")
    api_key_env: str = "OPENAI_API_KEY"
    size: str = Field("512x512", pattern=r"^\d{2,4}x\d{2,4}$")
    timeout: float = Field(300.0, gt=0)


async def generate(endpoint: ImageEndpoint, prompt: str, ctx: StepContext) -> str:
    """The store path of the picture the endpoint draws for ``prompt`` (``RowError`` when it
    fails or answers with something that is not an image)."""
    url = endpoint.base_url.rstrip("/") + "/images/generations"
    body = {"model": endpoint.model, "prompt": prompt, "n": 1, "size": endpoint.size,
            "response_format": "b64_json"}  # fmt: skip
    key, store = stable_hash({"url": url, **body}), ImageStore.beside(ctx.output)
    cached = ctx.cache.get(key) if ctx.cache is not None else None
    if cached is not None and (store.root / cached.text).is_file():
        return cached.text
    secret = os.environ.get(endpoint.api_key_env, "")
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    try:
        async with httpx.AsyncClient(timeout=endpoint.timeout) as client:
            response = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise RowError("connection", redact(f"{type(exc).__name__}: {exc}", [secret])) from None
    if response.status_code != 200:
        detail = redact(response.text, [secret])[:200].replace("\n", " ")
        raise RowError("endpoint", f"{response.status_code} {detail}")
    try:
        data = base64.b64decode(response.json()["data"][0]["b64_json"], validate=True)
        with Image.open(io.BytesIO(data)) as picture:
            kind = (picture.format or "png").lower()
    except (ValueError, KeyError, IndexError, TypeError, UnidentifiedImageError):
        raise RowError("bad_response", "the endpoint did not answer with an image") from None
    path = store.put(data, ".jpg" if kind == "jpeg" else f".{kind}")
    if ctx.cache is not None:
        ctx.cache.put(key, Completion(choices=[Choice(text=path)], model=endpoint.model))
    return path


def provenance(endpoint: ImageEndpoint) -> dict[str, Any]:
    return {"model": endpoint.model, "endpoint": endpoint.base_url, "size": endpoint.size}
