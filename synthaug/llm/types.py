"""Request and completion types shared by every backend.

A ``ChatRequest`` is either a chat request (``messages``) or a raw completion
(``prompt``, for methods such as Self-Instruct or Magpie that need the bare
text or template). Structured output is a first-class option: ``json_schema``
or ``grammar`` (GBNF), never both.

A chat turn's ``content`` is a string, or (for a vision endpoint) a list of content parts as
OpenAI's chat-completions API defines them: ``{"type": "text", "text": ...}`` and
``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` (``vision_chat``
builds one). In the cache key an inline image counts by the SHA-256 of its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["system", "user", "assistant"]


class ChatRequest(BaseModel):
    """One model request; every field is part of the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: tuple[dict[str, Any], ...] | None = None  # content: str, or content parts
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
        for turn in self.messages or ():
            content = turn.get("content")
            if not isinstance(content, str) and not _parts(content):
                raise ValueError("a turn's content is a string or a list of text/image_url parts")
        return self

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    @property
    def has_images(self) -> bool:
        return any(not isinstance(turn["content"], str) for turn in self.messages or ())

    def cache_fields(self) -> dict[str, Any]:
        """The request as a plain dict, for hashing (an inline image as its bytes' SHA-256)."""
        fields = self.model_dump(mode="json")
        if self.has_images:
            fields["messages"] = [
                {**turn, "content": [_hashed(part) for part in turn["content"]]}
                if isinstance(turn["content"], list) else turn
                for turn in fields["messages"]
            ]  # fmt: skip
        return fields


def chat(*turns: tuple[Role, str], **options: Any) -> ChatRequest:
    """Shorthand: ``chat(("user", "Hi"), temperature=0)``."""
    return ChatRequest(messages=tuple({"role": r, "content": c} for r, c in turns), **options)


def image_part(data: bytes, media_type: str = "image/png") -> dict[str, Any]:
    """An ``image_url`` content part holding ``data`` inline (a base64 ``data:`` URL)."""
    url = f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
    return {"type": "image_url", "image_url": {"url": url}}


def vision_chat(text: str, images: list[bytes], **options: Any) -> ChatRequest:
    """One user turn of ``text`` followed by ``images`` (PNG bytes), for a vision endpoint."""
    parts = [{"type": "text", "text": text}, *(image_part(data) for data in images)]
    return ChatRequest(messages=({"role": "user", "content": parts},), **options)


def _parts(content: Any) -> bool:
    """Whether ``content`` is a non-empty list of well-formed text / image_url parts."""
    if not isinstance(content, list | tuple) or not content:
        return False
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        url = part.get("image_url", {}).get("url") if kind == "image_url" else None
        if not (kind == "text" and isinstance(part.get("text"), str)) and not isinstance(url, str):
            return False
    return True


def _hashed(part: dict[str, Any]) -> dict[str, Any]:
    """A content part with an inline image replaced by its bytes' SHA-256."""
    url = part.get("image_url", {}).get("url", "") if part.get("type") == "image_url" else ""
    if not url.startswith("data:"):
        return part
    data = base64.b64decode(url.partition(",")[2])
    media = url.removeprefix("data:").partition(";")[0]
    return {
        **part,
        "image_url": {
            **part["image_url"],
            "url": f"{media};sha256:" + hashlib.sha256(data).hexdigest(),
        },
    }


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
