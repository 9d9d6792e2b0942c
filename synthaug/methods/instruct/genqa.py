"""GenQA generator prompts (Chen et al., 2024, arXiv 2406.10323).

A generator prompt asks, inside one call, to enumerate a long list of options
(topics, sub-topics, task types, ...), to take the option at a given random
index, and to write a question and answer about it — which avoids the mode
collapse of sending one static prompt many times. Variants, as in the paper:
``static`` (ask for a Q&A directly), ``conditional`` (on a topic drawn from a
list), ``generator_conditional`` (list sub-topics of a drawn topic, take one)
and ``generator_nested`` (list topics, take one, list its sub-topics, take one).
The answer is decoded under a JSON schema whose field order is the prompt's
order (lists first, then the picks, then question and answer); each record
says whether the model kept to the index it was given.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import SourceStep, StepContext
from ...llm.client import LLMError
from ...llm.types import ChatRequest, chat
from ..common.tasks import generate_until
from ..registry import register
from ..templates import render

PAPER = "Chen et al., 2024, GenQA (arXiv 2406.10323)"
TAXONOMY = "synthesis / general model distillation (generator prompts)"
STAGE = "instruction tuning"
Variant = Literal["static", "conditional", "generator_conditional", "generator_nested"]
DEFAULT_TOPICS = [
    "science",
    "history",
    "mathematics",
    "literature",
    "technology",
    "health",
    "economics",
    "geography",
]


def _strings(size: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": {"type": "string", "maxLength": 80}}
    if size:
        schema.update(minItems=size, maxItems=size)
    return schema


def response_schema(variant: str, size: int) -> dict[str, Any]:
    """Lists, picks, then question and answer — the order the prompt asks for them."""
    properties: dict[str, Any] = {}
    if variant == "generator_conditional":
        properties = {"items": _strings(size), "chosen": {"type": "string"}}
    elif variant == "generator_nested":
        properties = {
            "items": _strings(size),
            "chosen": {"type": "string"},
            "subitems": _strings(size),
            "chosen_subitem": {"type": "string"},
        }
    properties |= {"question": {"type": "string"}, "answer": {"type": "string"}}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_questions: int = Field(100, ge=1)
    variant: Variant = "generator_nested"
    kind: str = "topics"  # what the generator enumerates: topics, sub-topics, task types, ...
    topics: list[str] = Field(default_factory=lambda: list(DEFAULT_TOPICS), min_length=1)
    list_size: int = Field(50, ge=2)
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(2048, ge=32)
    requests_in_flight: int | None = Field(None, ge=1)


@register("genqa.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(SourceStep):
    """GenQA: one call lists options, takes the one at a random index, writes a Q&A about it."""

    Params = GenerateParams
    writes = (
        "question",
        "answer",
        "messages",
        "genqa_variant",
        "genqa_pick",
        "genqa_index",
        "genqa_index_kept",
    )
    uses_llm = True

    def expected_rows(self) -> int | None:
        return self.params.num_questions

    def request(self, number: int, ctx: StepContext) -> tuple[ChatRequest, dict[str, Any]]:
        p = self.params
        rng = random.Random(ctx.seed("genqa", number))
        slots = {
            "topic": rng.choice(p.topics),
            "kind": p.kind,
            "size": p.list_size,
            "index": rng.randint(1, p.list_size),
            "sub_index": rng.randint(1, p.list_size),
        }
        prompt = render(__file__, f"genqa_{p.variant}.j2", **slots)
        schema = response_schema(p.variant, p.list_size)
        request = chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            json_schema=schema,
            seed=ctx.seed("request", number),
        )
        return request, slots

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        slots_of: dict[int, dict[str, Any]] = {}
        produced = 0

        def make_request(number: int) -> ChatRequest:
            request, slots_of[number] = self.request(number, ctx)
            return request

        results = generate_until(
            ctx.require_llm(),
            make_request,
            lambda: p.num_questions - produced,
            p.num_questions * 3,
            p.requests_in_flight,
        )
        async with contextlib.aclosing(results):
            async for index, request, result in results:
                if isinstance(result, LLMError):
                    continue
                fields = parse_generation(result.text, p.variant, slots_of.pop(index))
                if fields is None:
                    continue
                produced += 1
                yield self.generated(fields, ctx, request, index)


def parse_generation(text: str, variant: str, slots: dict[str, Any]) -> dict[str, Any] | None:
    """The record for one generator reply, or None when it is unusable (not JSON, empty Q or A)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    question, answer = str(data.get("question", "")).strip(), str(data.get("answer", "")).strip()
    if not question or not answer:
        return None
    pick, kept = slots["topic"] if variant == "conditional" else None, None
    if variant.startswith("generator"):
        items = data.get("subitems" if variant == "generator_nested" else "items") or []
        chosen = data.get("chosen_subitem" if variant == "generator_nested" else "chosen")
        position = slots["sub_index" if variant == "generator_nested" else "index"]
        pick = chosen
        kept = len(items) >= position and items[position - 1] == chosen
    return {
        "question": question,
        "answer": answer,
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ],
        "genqa_variant": variant,
        "genqa_pick": pick,
        "genqa_index": slots["sub_index" if variant == "generator_nested" else "index"]
        if variant.startswith("generator")
        else None,
        "genqa_index_kept": kept,
    }
