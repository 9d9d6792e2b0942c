"""Textbook-quality synthetic text (phi-1, Gunasekar et al., 2023, "Textbooks Are All You Need",
arXiv 2306.11644; phi-1.5, Li et al., 2023, "Textbooks Are All You Need II", arXiv 2309.05463).

phi-1 had GPT-3.5 write Python textbooks (prose interleaved with code) and
*CodeExercises*: a function signature plus a docstring that the student model
learns to complete. Both papers stress that sending one prompt many times
collapses into repetitive text; diversity is forced by constraining every
prompt. Here each prompt is constrained on a (topic, target audience, style)
triple drawn with a per-request seed, and on the kind of text (a textbook
section, or an exercise when ``kinds`` includes ``exercise``). Topics come from
a topic list file (one per line; a small default list ships with synthaug, in
the spirit of phi-1.5's seed topics) or from the model itself: one call,
decoded under a JSON schema, lists ``generate_topics`` topics about
``subject``. Exercises are decoded under a JSON schema (signature, docstring,
body; the signature must match a ``def name(args):`` pattern) and assembled
into a function. A reply that does not parse, or whose docstring or body only
restates the signature, goes to the errors file and does not count towards ``num_texts``.
Records carry ``text``, ``topic``, ``audience``, ``style`` and ``kind``;
exercises also keep ``exercise_prompt`` (signature + docstring, what the
student completes) and ``solution``. The papers give no sampling settings or
lengths; the defaults (temperature 1, 1024 tokens) are this module's choice.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import SourceStep, StepContext
from ...errors import SynthaugError
from ...llm.client import LLMClient, LLMError
from ...llm.types import ChatRequest, chat, object_schema
from ...records import META
from ..common.lists import read_list
from ..common.rows import dropped
from ..common.tasks import generate_until
from ..registry import register
from ..templates import render

PAPER = (
    "Gunasekar et al., 2023, phi-1 (arXiv 2306.11644); Li et al., 2023, phi-1.5 (arXiv 2309.05463)"
)
TAXONOMY = "synthesis / general model distillation (textbook-quality data)"
STAGE = "pre-training"
Kind = Literal["section", "exercise"]

AUDIENCES = [
    "young children",
    "middle school students",
    "high school students",
    "college students",
    "adults who are new to programming",
    "professional software engineers",
]
STYLES = [
    "a clear, formal textbook style",
    "a friendly, conversational style",
    "a step-by-step tutorial style",
    "a style rich in everyday analogies",
    "a question-driven Socratic style",
]
SIGNATURE = re.compile(r"^def [A-Za-z_]\w*\(.*\)( -> .+)?:$")
EXERCISE_SCHEMA = object_schema(
    {
        "signature": {
            "type": "string",
            "pattern": r"^def [a-z_][a-z0-9_]{0,30}\([a-z0-9_, ]{0,60}\):$",
        },
        "docstring": {"type": "string", "minLength": 10, "maxLength": 400},
        "body": {"type": "string", "minLength": 5, "maxLength": 800},
    }
)


def topics_schema(count: int) -> dict[str, Any]:
    """A JSON object holding exactly ``count`` short topic strings."""
    items = {"type": "string", "minLength": 3, "maxLength": 80}
    topics = {"type": "array", "items": items, "minItems": count, "maxItems": count}
    return object_schema({"topics": topics})


class TextbookParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_texts: int = Field(100, ge=1)
    kinds: list[Kind] = Field(default_factory=lambda: ["section"], min_length=1)
    topics_path: str | None = None  # one topic per line; default: the bundled list
    generate_topics: int = Field(0, ge=0)  # > 0: the model lists this many topics instead
    subject: str = "programming, mathematics and science"  # what generated topics are about
    audiences: list[str] = Field(default_factory=lambda: list(AUDIENCES), min_length=1)
    styles: list[str] = Field(default_factory=lambda: list(STYLES), min_length=1)
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(1024, ge=16)
    topics_max_tokens: int = Field(1024, ge=16)
    requests_in_flight: int | None = Field(None, ge=1)


@register("textbook.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Textbook(SourceStep):
    """phi-1 / phi-1.5: textbook sections and exercises constrained on topic x audience x style."""

    Params = TextbookParams
    writes = ("text", "topic", "audience", "style", "kind", "exercise_prompt", "solution")
    uses_llm = True

    def expected_rows(self) -> int | None:
        return self.params.num_texts

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        topics, topics_request = await self._topics(llm, ctx)
        slots_of: dict[int, dict[str, str]] = {}
        produced = 0

        def make_request(number: int) -> ChatRequest:
            slots_of[number] = draw_slots(random.Random(ctx.seed("slots", number)), topics, p)
            return self.request(slots_of[number], ctx.seed("request", number))

        results = generate_until(
            llm,
            make_request,
            lambda: p.num_texts - produced,
            p.num_texts * 3,
            p.requests_in_flight,
        )
        async with contextlib.aclosing(results):
            async for index, request, result in results:
                slots = slots_of.pop(index)
                if isinstance(result, LLMError):
                    yield self.failed(index, slots, result.kind, str(result))
                    continue
                fields = parse_text(result.text, slots)
                if fields is None:
                    yield self.failed(index, slots, "parse_error", repr(result.text[:80]))
                    continue
                produced += 1
                record = self.generated(fields, ctx, request, index)
                if topics_request is not None:
                    record[META]["request"].insert(0, llm.key(topics_request))
                yield record

    def request(self, slots: dict[str, str], seed: int) -> ChatRequest:
        p = self.params
        prompt = render(__file__, f"textbook_{slots['kind']}.j2", **slots)
        schema = EXERCISE_SCHEMA if slots["kind"] == "exercise" else None
        return chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            json_schema=schema,
            seed=seed,
        )

    def failed(self, index: int, slots: dict[str, str], kind: str, message: str) -> dict[str, Any]:
        """An unusable reply, kept for the errors file (it does not count towards ``num_texts``)."""
        return dropped(self, None, kind, message, (index, "error"), slots)

    async def _topics(
        self, llm: LLMClient, ctx: StepContext
    ) -> tuple[list[str], ChatRequest | None]:
        """The topic list, and the request that generated it (None when read from a file)."""
        p = self.params
        if not p.generate_topics:
            return read_topics(p.topics_path), None
        prompt = render(__file__, "textbook_topics.j2", count=p.generate_topics, subject=p.subject)
        request = chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.topics_max_tokens,
            json_schema=topics_schema(p.generate_topics),
            seed=ctx.seed("topics"),
        )
        try:
            topics = parse_topics((await llm.complete(request)).text)
        except LLMError as exc:
            raise SynthaugError(f"{self.name}: the topic-list call failed ({exc})") from exc
        if not topics:
            raise SynthaugError(
                f"{self.name}: the model's topic list did not parse; raise topics_max_tokens "
                "or give a topic list file (topics_path)"
            )
        return topics, request


def read_topics(path: str | None) -> list[str]:
    """Topics, one per line (blank lines and ``#`` comments skipped); default: the bundled list."""
    return read_list(path, "textbook_topics.txt")


def parse_topics(text: str) -> list[str]:
    """Distinct non-empty topics from a topic-list reply, in order ([] when it does not parse)."""
    try:
        listed = json.loads(text).get("topics") or []
    except (ValueError, AttributeError):
        return []
    cleaned = (" ".join(str(topic).split()) for topic in listed)
    return list(dict.fromkeys(topic for topic in cleaned if topic))


def draw_slots(rng: random.Random, topics: list[str], params: TextbookParams) -> dict[str, str]:
    """One prompt's constraints: topic, audience, style and kind."""
    return {
        "topic": rng.choice(topics),
        "audience": rng.choice(params.audiences),
        "style": rng.choice(params.styles),
        "kind": rng.choice(params.kinds),
    }


def parse_text(text: str, slots: dict[str, str]) -> dict[str, Any] | None:
    """The record fields for one reply, or None when it is unusable."""
    if slots["kind"] == "exercise":
        exercise = parse_exercise(text)
        if exercise is None:
            return None
        return {**slots, **exercise}
    section = text.strip()
    if not section:
        return None
    return {**slots, "text": section, "exercise_prompt": None, "solution": None}


def parse_exercise(text: str) -> dict[str, str] | None:
    """An exercise reply as ``text`` (the whole function), ``exercise_prompt`` and ``solution``."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    signature = str(data.get("signature", "")).strip()
    docstring = str(data.get("docstring", "")).strip().strip('"').strip()
    body = str(data.get("body", "")).rstrip()
    if not SIGNATURE.match(signature) or not docstring or not body.strip():
        return None
    if any(part.lstrip().startswith(signature.rstrip(":")) for part in (docstring, body)):
        return None  # the docstring or body only restates the signature
    prompt = f'{signature}\n    """{docstring}"""\n'
    solution = _indented(body)
    return {"text": prompt + solution, "exercise_prompt": prompt, "solution": solution}


def _indented(body: str) -> str:
    """The body under the signature: indented by four spaces unless it already is."""
    lines = body.strip("\n").splitlines()
    if all(not line.strip() or line.startswith((" ", "\t")) for line in lines):
        return "\n".join(lines) + "\n"
    return "\n".join(f"    {line}" if line.strip() else "" for line in lines) + "\n"
