"""Any OpenAI-compatible endpoint: vLLM, SGLang, llama.cpp server, Ollama, hosted APIs.

The API key is read from an environment variable (``api_key_env``) at call
time and only ever placed in the Authorization header: it is not part of the
backend's identity, its description, the cache, logs or outputs, and it (like
any ``Bearer …`` token) is redacted from every error text, even when a server
echoes the request headers back in an error body. Retries,
backoff and adaptive concurrency live in ``LLMClient``; this class turns one
request into one HTTP call and classifies what went wrong.

``base_url`` may list several replicas of one model (they must serve the same weights:
answers from any of them are interchangeable). Each call goes to the replica with the fewest
calls in flight, each replica taking at most ``max_concurrency`` (``synthaug.llm.endpoints``);
one that fails to connect or answers 5xx is avoided for a while, so the client's retry goes to
another. At start a replica that does not answer is reported in one line, and the start fails
only when none answers. The identity is the model and the *sorted* set of URLs, so which
replica served a call, or the order they are listed in, does not change the cache key; the
summary counts the answers each replica served.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import BackendUnavailable
from .backend import Backend, BackendCallError, parse_wire_completion, redact, wire_body
from .endpoints import EndpointPool
from .registry import register_backend
from .types import ChatRequest, Completion


class OpenAIBackend(Backend):
    """An OpenAI-compatible HTTP endpoint (see the module docstring)."""

    name = "openai"

    def __init__(
        self,
        base_url: str | list[str],
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 32,
        timeout: float = 120.0,
        schema_style: str = "openai",
        max_retry_after: float = 60.0,
    ):
        super().__init__()
        urls = [url.rstrip("/") for url in ([base_url] if isinstance(base_url, str) else base_url)]
        self.base_url = urls[0]  # the one a single-endpoint feature (templates, batches) uses
        self.pool = EndpointPool(urls, max_concurrency)
        self.model, self.api_key_env = model, api_key_env
        self.max_concurrency, self.timeout, self.schema_style = (
            max_concurrency * len(urls),  # the client's limit: every replica's slots
            timeout,
            schema_style,
        )
        self.max_retry_after = max_retry_after
        self._http: httpx.AsyncClient | None = None

    def _where(self) -> str:
        """The endpoint, or the sorted replicas' URLs joined by commas."""
        return ",".join(sorted(self.pool.urls))

    def identity(self, file_hash: Callable[[str], str]) -> str:
        return f"openai:{self._where()}:{self.model}"

    def describe(self) -> str:
        return f"openai:{self.model}@{self._where()}"

    def endpoint_counts(self) -> Counter[str]:
        return self.pool.served if len(self.pool.urls) > 1 else Counter()

    def priced_model(self) -> str | None:
        return self.model

    def secrets(self) -> list[str]:
        key = os.environ.get(self.api_key_env, "")
        return [key] if key else []

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            limits = httpx.Limits(max_connections=self.max_concurrency * 2)
            self._http = httpx.AsyncClient(timeout=self.timeout, limits=limits)
        return self._http

    async def start(self) -> None:
        """Check the endpoints answer before any generation starts: fail when none does (or
        one rejects the credentials); a replica that does not answer is reported and avoided."""
        problems = await asyncio.gather(*(self._check(url) for url in self.pool.urls))
        if all(problems):
            raise BackendUnavailable("; ".join(p for p in problems if p))
        for index, problem in enumerate(problems):
            if problem:
                self.pool.mark_down(index)
        if down := [p for p in problems if p]:
            print(
                f"synthaug: warning: {'; '.join(down)}; using the other endpoints", file=sys.stderr
            )

    async def _check(self, url: str) -> str | None:
        """Why ``url`` cannot be reached, or None when it answers; credentials it rejects
        raise (they are every replica's)."""
        try:
            response = await self._client().get(
                f"{url}/models", headers=self._headers(), timeout=min(self.timeout, 15)
            )
        except httpx.HTTPError as exc:
            return f"cannot reach {url}: {type(exc).__name__}"
        if response.status_code in (401, 403):
            raise BackendUnavailable(
                f"{url} rejected the credentials ({response.status_code}); "
                f"set the API key in ${self.api_key_env}"
            )
        return None

    async def complete(self, request: ChatRequest) -> Completion:
        path = "/chat/completions" if request.is_chat else "/completions"
        body = wire_body(request, model=self.model, schema_style=self.schema_style)
        self.calls += 1
        async with self.pool.use() as index:
            try:
                response = await self._client().post(
                    self.pool.urls[index] + path, json=body, headers=self._headers()
                )
            except httpx.HTTPError as exc:
                if not isinstance(exc, httpx.TimeoutException):
                    self.pool.mark_down(index)
                raise transport_error(exc, self.timeout, self.redact) from None
            if response.status_code >= 500:
                self.pool.mark_down(index)
            if response.status_code != 200:
                raise status_error(response, self.redact)
            self.pool.answered(index)
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise BackendCallError("bad_response", f"response is not JSON: {exc}") from exc
        return parse_wire_completion(data, chat=request.is_chat)

    async def apply_template(self, messages: list[dict[str, str]]) -> str:
        """A llama.cpp server's ``/apply-template`` (the first replica up); other servers need
        an explicit template."""
        up = [url for url, down in zip(self.pool.urls, self.pool.down(), strict=True) if not down]
        root = (up or [self.base_url])[0].removesuffix("/v1")
        try:
            response = await self._client().post(
                root + "/apply-template", json={"messages": messages}, headers=self._headers()
            )
            prompt = response.json()["prompt"] if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError):
            prompt = None
        if not isinstance(prompt, str):
            raise BackendUnavailable(
                f"{self.base_url} does not render chat templates (/apply-template); "
                "give the pre-query template explicitly"
            )
        return prompt

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def transport_error(
    exc: httpx.HTTPError, timeout: float, redact: Callable[[str], str] = redact
) -> BackendCallError:
    """A request that got no HTTP answer, as a (retryable) call error without secrets."""
    if isinstance(exc, httpx.TimeoutException):
        return BackendCallError("timeout", f"no answer within {timeout:g}s")
    return BackendCallError("connection", redact(f"{type(exc).__name__}: {exc}"))


def status_error(
    response: httpx.Response, redact: Callable[[str], str] = redact
) -> BackendCallError:
    """A non-200 answer as a classified call error (429 and 5xx are retryable).

    The body is redacted before it is cut to 200 characters, so no prefix of a secret
    that a server echoed back survives.
    """
    status = response.status_code
    detail = redact(response.text)[:200].replace("\n", " ")
    if status == 429:
        return BackendCallError("rate_limit", f"429 {detail}", _retry_after(response))
    if status >= 500:
        return BackendCallError("server_error", f"{status} {detail}", _retry_after(response))
    return BackendCallError("bad_request", f"{status} {detail}")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric ``Retry-After`` header (HTTP dates are ignored)."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


class OpenAIOptions(BaseModel):
    """A recipe's ``backend: {type: openai, ...}``."""

    model_config = ConfigDict(extra="forbid")
    base_url: str | list[str] = Field(
        description="the endpoint, or a list of replicas serving the same weights"
    )
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = Field(32, ge=1, le=1024)  # per endpoint
    timeout: float = Field(120.0, gt=0)
    schema_style: Literal["openai", "llamacpp"] = "openai"
    max_retry_after: float = Field(60.0, gt=0)  # longer server-requested waits fail the call

    @field_validator("base_url")
    @classmethod
    def _distinct(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            return value
        urls = [url.rstrip("/") for url in value]
        if not urls:
            raise ValueError("give at least one endpoint URL")
        if len(set(urls)) < len(urls):
            raise ValueError("an endpoint is listed twice")
        return urls[0] if len(urls) == 1 else urls


register_backend(
    "openai",
    OpenAIOptions,
    lambda o: OpenAIBackend(**o.model_dump()),
    "any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp server, Ollama, hosted APIs)",
)
