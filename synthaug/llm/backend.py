"""The backend contract and the wire format shared by llama.cpp and OpenAI-style servers."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailable
from .types import ChatRequest, Choice, Completion, TokenLogprob, Usage

RETRYABLE = frozenset({"rate_limit", "server_error", "timeout", "connection", "bad_response"})
BEARER = re.compile(r"(?i)\b(bearer)(\s+|%20|\+)[^\s\"',;}]+")


class BackendCallError(Exception):
    """One failed model call. ``kind`` decides whether the client retries it."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind, self.retry_after = kind, retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class Backend(ABC):
    """A model behind a uniform async ``complete``; ``calls`` counts real model calls."""

    name: str = "backend"
    max_concurrency: int = 8
    max_retry_after: float = 60.0  # longest server-requested wait (Retry-After) the client honours
    price_factor: float = 1.0  # what the provider charges against its list price (batch APIs: 0.5)

    def __init__(self) -> None:
        self.calls = 0

    @abstractmethod
    def identity(self, file_hash: Callable[[str], str]) -> str:
        """What makes two answers interchangeable: weights hash or endpoint + model name."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load the model or check the endpoint; raise ``BackendUnavailable`` if impossible."""

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Completion:
        """Send one request; raise ``BackendCallError`` on failure."""

    async def apply_template(self, messages: list[dict[str, str]]) -> str:
        """The model's chat template rendered for ``messages`` (with the assistant header)."""
        raise BackendUnavailable(
            f"{self.describe()} cannot render its chat template; give the template explicitly"
        )

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model or connections."""

    def bind_run_dir(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Where to keep state that must outlive a killed run (a batch backend's batch ids)."""

    def endpoint_counts(self) -> Counter[str]:
        """Answers served per endpoint URL, kept live (a backend of several replicas)."""
        return Counter()

    def progress_note(self) -> str | None:
        """A short live note for the progress line (e.g. batches waiting), or None."""
        return None

    def describe(self) -> str:
        """A short human-readable name (never contains secrets)."""
        return self.name

    def priced_model(self) -> str | None:
        """The model name a price table is looked up by; None for a model that costs no money."""
        return None

    def secrets(self) -> list[str]:
        """Credential values that must never appear in an error text, log or record."""
        return []

    def redact(self, text: str) -> str:
        """``text`` with every credential value and ``Bearer …`` token replaced by ``***``."""
        return redact(text, self.secrets())


def redact(text: str, secrets: list[str] = ()) -> str:
    """``text`` without the ``secrets`` values nor any ``Bearer <token>``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def check_completion(completion: Completion) -> str | None:
    """Why ``completion`` is unusable (no choice, a choice without text), or None when usable.

    Such a reply is a retryable ``bad_response`` and is never cached; a cached one is ignored.
    """
    if not completion.choices:
        return "the reply has no choices"
    for i, choice in enumerate(completion.choices):
        if not isinstance(choice.text, str):
            return f"choice {i} has no text"
    return None


def wire_body(request: ChatRequest, *, model: str | None, schema_style: str) -> dict[str, Any]:
    """The OpenAI-style JSON body for ``request``.

    ``schema_style`` is ``"llamacpp"`` (top-level ``json_schema``/``grammar``, as
    llama.cpp's server takes them) or ``"openai"`` (``response_format``).
    """
    body: dict[str, Any] = {
        "n": request.n,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
    }
    if model:
        body["model"] = model
    if request.is_chat:
        body["messages"] = list(request.messages or ())
    else:
        body["prompt"] = request.prompt
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.logprobs:
        if request.is_chat:  # llama.cpp returns no chat log-probabilities with top_logprobs 0
            body["logprobs"] = True
            body["top_logprobs"] = max(request.top_logprobs, 1)
        else:
            body["logprobs"] = max(request.top_logprobs, 1)
    if request.grammar is not None:
        body["grammar"] = request.grammar
    if request.json_schema is not None:
        if schema_style == "llamacpp":
            body["json_schema"] = request.json_schema
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.json_schema, "strict": True},
            }
    return body


def parse_wire_completion(data: Any, *, chat: bool) -> Completion:
    """Parse an OpenAI-style response; raise ``BackendCallError`` (bad_response) if malformed."""
    try:
        choices = [_parse_choice(c, chat=chat) for c in data["choices"]]
        if not choices:
            raise BackendCallError("bad_response", "malformed completion: empty choices")
        usage = data.get("usage") or {}
        return Completion(
            choices=choices,
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            ),
            model=str(data.get("model") or ""),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackendCallError("bad_response", f"malformed completion: {exc!r}") from exc


def _parse_choice(choice: dict[str, Any], *, chat: bool) -> Choice:
    text = choice["message"]["content"] if chat else choice["text"]
    if not isinstance(text, str):  # null content (e.g. a refusal or a tool call): unusable
        raise ValueError(f"choice content is {type(text).__name__}, not text")
    return Choice(
        text=text,
        finish_reason=choice.get("finish_reason"),
        logprobs=_parse_logprobs(choice.get("logprobs")),
    )


def _parse_logprobs(raw: Any) -> list[TokenLogprob] | None:
    if not raw:
        return None
    if isinstance(raw, dict) and "content" in raw:  # chat format (and llama.cpp's completions)
        return [
            TokenLogprob(
                token=t["token"],
                logprob=float(t["logprob"]),
                top_logprobs=[
                    {"token": a["token"], "logprob": a["logprob"]}
                    for a in t.get("top_logprobs", [])
                ],
            )
            for t in raw["content"] or []
        ]
    tokens, values = raw.get("tokens") or [], raw.get("token_logprobs") or []  # legacy completions
    tops = raw.get("top_logprobs") or [{}] * len(tokens)
    return [
        TokenLogprob(
            token=t,
            logprob=float(v if v is not None else 0.0),
            top_logprobs=[{"token": k, "logprob": p} for k, p in (top or {}).items()],
        )
        for t, v, top in zip(tokens, values, tops, strict=False)
    ]
