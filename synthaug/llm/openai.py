"""Any OpenAI-compatible endpoint: vLLM, SGLang, llama.cpp server, Ollama, hosted APIs.

The API key is read from an environment variable (``api_key_env``) at call
time and only ever placed in the Authorization header: it is not part of the
backend's identity, its description, the cache, logs or outputs, and it (like
any ``Bearer …`` token) is redacted from every error text, even when a server
echoes the request headers back in an error body. Retries,
backoff and adaptive concurrency live in ``LLMClient``; this class turns one
request into one HTTP call and classifies what went wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ..errors import BackendUnavailable
from .backend import Backend, BackendCallError, parse_wire_completion, redact, wire_body
from .registry import register_backend
from .types import ChatRequest, Completion


class OpenAIBackend(Backend):
    """An OpenAI-compatible HTTP endpoint (see the module docstring)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 32,
        timeout: float = 120.0,
        schema_style: str = "openai",
        max_retry_after: float = 60.0,
    ):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.model, self.api_key_env = model, api_key_env
        self.max_concurrency, self.timeout, self.schema_style = (
            max_concurrency,
            timeout,
            schema_style,
        )
        self.max_retry_after = max_retry_after
        self._http: httpx.AsyncClient | None = None

    def identity(self, file_hash: Callable[[str], str]) -> str:
        return f"openai:{self.base_url}:{self.model}"

    def describe(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

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
        """Check the endpoint answers before any generation starts."""
        try:
            response = await self._client().get(
                f"{self.base_url}/models", headers=self._headers(), timeout=min(self.timeout, 15)
            )
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"cannot reach {self.base_url}: {type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            raise BackendUnavailable(
                f"{self.base_url} rejected the credentials ({response.status_code}); "
                f"set the API key in ${self.api_key_env}"
            )

    async def complete(self, request: ChatRequest) -> Completion:
        path = "/chat/completions" if request.is_chat else "/completions"
        body = wire_body(request, model=self.model, schema_style=self.schema_style)
        self.calls += 1
        try:
            response = await self._client().post(
                self.base_url + path, json=body, headers=self._headers()
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.timeout, self.redact) from None
        if response.status_code != 200:
            raise status_error(response, self.redact)
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise BackendCallError("bad_response", f"response is not JSON: {exc}") from exc
        return parse_wire_completion(data, chat=request.is_chat)

    async def apply_template(self, messages: list[dict[str, str]]) -> str:
        """A llama.cpp server's ``/apply-template``; other servers need an explicit template."""
        root = self.base_url.removesuffix("/v1")
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
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = Field(32, ge=1, le=1024)
    timeout: float = Field(120.0, gt=0)
    schema_style: Literal["openai", "llamacpp"] = "openai"
    max_retry_after: float = Field(60.0, gt=0)  # longer server-requested waits fail the call


register_backend(
    "openai",
    OpenAIOptions,
    lambda o: OpenAIBackend(**o.model_dump()),
    "any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp server, Ollama, hosted APIs)",
)
