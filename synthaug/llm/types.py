"""Request and completion types shared by every backend.

A ``ChatRequest`` is either a chat request (``messages``) or a raw completion
(``prompt``, for methods such as Self-Instruct or Magpie that need the bare
text or template). Structured output is a first-class option: ``json_schema``
or ``grammar`` (GBNF), never both.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["system", "user", "assistant"]


class ChatRequest(BaseModel):
    """One model request; every field is part of the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: tuple[dict[str, str], ...] | None = None
    prompt: str | None = None
    n: int = Field(1, ge=1, le=128)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, ge=0, le=1)
    max_tokens: int = Field(256, ge=1)
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    json_schema: dict[str, Any] | None = None
    grammar: str | None = None
    logprobs: bool = False
    top_logprobs: int = Field(0, ge=0, le=20)

    @model_validator(mode="after")
    def _one_kind(self) -> ChatRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give exactly one of messages (chat) or prompt (raw completion)")
        if self.json_schema is not None and self.grammar is not None:
            raise ValueError("json_schema and grammar cannot be combined")
        return self

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    def cache_fields(self) -> dict[str, Any]:
        """The request as a plain dict, for hashing."""
        return self.model_dump(mode="json")


def chat(*turns: tuple[Role, str], **options: Any) -> ChatRequest:
    """Shorthand: ``chat(("user", "Hi"), temperature=0)``."""
    return ChatRequest(messages=tuple({"role": r, "content": c} for r, c in turns), **options)


def one_prompt(prompt: str, mode: Literal["completion", "chat"], **options: Any) -> ChatRequest:
    """``prompt`` as a raw completion prompt or as the one user turn of a chat."""
    if mode == "chat":
        return chat(("user", prompt), **options)
    return ChatRequest(prompt=prompt, **options)


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    top_logprobs: list[dict[str, Any]] = []


class Choice(BaseModel):
    text: str
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Completion(BaseModel):
    """A backend's answer: one choice per sample, plus token usage."""

    choices: list[Choice]
    usage: Usage = Usage()
    model: str = ""
    cached: bool = False

    @property
    def text(self) -> str:
        return self.choices[0].text


def object_schema(properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema for an object with exactly ``properties``, all required, in that order."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def json_object(text: str) -> dict[str, Any]:
    """The JSON object a model replied with, or ``{}`` when the reply is not one (e.g. cut off)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
