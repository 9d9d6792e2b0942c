"""Magpie (Xu et al., 2024, arXiv 2406.08464, ICLR 2025): instructions from the model itself.

1. Queries: send only the *pre-query template* — the model's chat template
   rendered up to where the user's message would start — as a raw completion;
   the aligned model writes a user query. Paper settings: temperature 1,
   top_p 1, max_tokens 2048, stop at the end-of-turn and header tokens and at
   the word "assistant", and (early stopping, on by default) at the first
   newline. The template comes from the backend (llama.cpp renders the GGUF's
   own template) or is given for endpoints that only expose raw completion.
2. Responses: answer each query through the normal chat template, greedy.
3. Tags, each under a JSON schema: input quality (very poor … excellent) with
   an explanation; intent, knowledge and difficulty (very easy … very hard);
   task category (one of 12 primary tags, plus others).
4. Repetition removal (the paper's ``gen_dis.py``): the instructions are
   embedded (all-mpnet-base-v2, unit vectors) and searched in a flat FAISS
   index; a neighbour at squared L2 distance < 0.05 — cosine > 0.975 — is a
   repeat, and only the lowest index of each group is kept by the filter. The
   ``magpie`` recipe does this with the ``dedup_semantic`` step right after
   the queries: ``epsilon: 0.025`` (the same cosine bound), ``order: input``
   (the earliest query stays) and ``clusters: 1`` (every pair compared, as the
   flat index). Because the rule looks only at the instructions and the
   filter keeps a row only if it passes every test, removing repeats before
   the answers and tags gives the paper's result and saves their calls.
   Differs: the embedder is the bundled MiniLM (or any endpoint), not
   all-mpnet-base-v2, so the same bound can group slightly different pairs;
   the paper counts neighbours among the 500 nearest only (``repeat_count``
   and ``min_neighbor_distance`` are not written).
5. Filter as the paper's ``data_filter`` notebook: input quality good or
   excellent, instruction not ending with ":"; then the longest responses
   first, top K (paper: 300K), written in input order (the paper shuffles).
   The paper's reward-model and Llama-Guard tags are not reproduced (no such
   model ships here).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, SourceStep, StepContext
from ...llm.client import LLMClient, LLMError
from ...llm.types import ChatRequest, Completion, chat, object_schema
from ..common.steps import KeepRows
from ..common.tasks import ModelStep, generate_until
from ..registry import register
from ..templates import render

PAPER = "Xu et al., 2024, Magpie (arXiv 2406.08464)"
TAXONOMY = "synthesis / model self-improvement (self-instruct from the aligned model's template)"
STAGE = "instruction tuning"
SLOT = "MAGPIE-USER-QUERY-SLOT"
QUALITY = ["very poor", "poor", "average", "good", "excellent"]
DIFFICULTY = ["very easy", "easy", "medium", "hard", "very hard"]
CATEGORIES = [
    "Information seeking", "Reasoning", "Planning", "Editing", "Coding & Debugging", "Math",
    "Role playing", "Data analysis", "Creative writing", "Advice seeking", "Brainstorming", "Others",
]  # fmt: skip


async def pre_query_template(
    llm: LLMClient, system_prompt: str | None = None
) -> tuple[str, list[str]]:
    """The template up to the user's message, and stop strings for the end of the user turn."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    rendered = await llm.backend.apply_template([*messages, {"role": "user", "content": SLOT}])
    before, found, after = rendered.partition(SLOT)
    if not found:
        raise RowError("template", "the chat template did not place the user message")
    stops = [line for line in after.split("\n") if line.strip()][:2]
    return before, [*stops, "assistant"]


class QueriesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_queries: int = Field(100, ge=1)
    pre_query_template: str | None = None  # default: rendered from the backend
    stop: list[str] | None = None  # with an explicit template: its end-of-turn strings
    system_prompt: str | None = None
    samples_per_call: int = Field(200, ge=1)  # n (paper: 200)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(2048, ge=8)
    early_stop: bool = True  # stop at the first newline
    requests_in_flight: int | None = Field(None, ge=1)
    max_requests: int | None = Field(None, ge=1)


@register("magpie.queries", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Queries(SourceStep):
    """Magpie step 1: user queries sampled from the bare pre-query template (distinct, in order)."""

    Params = QueriesParams
    writes = ("instruction", "pre_query_template")
    uses_llm = True

    def expected_rows(self) -> int | None:
        return self.params.num_queries

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        if p.pre_query_template is not None:
            template, stops = p.pre_query_template, list(p.stop or [])
        else:
            template, stops = await pre_query_template(llm, p.system_prompt)
        if p.early_stop:
            stops.append("\n")
        seen: set[str] = set()
        max_requests = p.max_requests or max(20, 10 * p.num_queries // p.samples_per_call + 10)

        def make_request(number: int) -> ChatRequest:
            return ChatRequest(
                prompt=template,
                n=p.samples_per_call,
                temperature=p.temperature,
                top_p=p.top_p,
                max_tokens=p.max_tokens,
                stop=tuple(stops),
                seed=ctx.seed("queries", number),
            )

        def missing() -> int:
            return p.num_queries - len(seen)

        results = generate_until(llm, make_request, missing, max_requests, p.requests_in_flight)
        async with contextlib.aclosing(results):
            async for index, request, result in results:
                if isinstance(result, LLMError):
                    continue  # an unusable call yields no query; later calls go on
                for k, choice in enumerate(result.choices):
                    query = choice.text.strip()
                    if not query or query in seen or choice.finish_reason == "length":
                        continue
                    seen.add(query)
                    fields = {"instruction": query, "pre_query_template": template}
                    yield self.generated(fields, ctx, request, index, k)
                    if missing() <= 0:
                        break


class RespondParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: int = Field(2048, ge=8)


@register("magpie.respond", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Respond(ModelStep):
    """Magpie step 2: answer each query through the chat template, greedy."""

    Params = RespondParams
    reads = ("instruction",)
    writes = ("response", "conversations")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        return [chat(("user", row["instruction"]), temperature=0, top_p=1, max_tokens=p.max_tokens)]

    def parse(self, row: dict[str, Any], replies: list[Completion]) -> dict[str, Any]:
        response = replies[0].text.strip()
        if not response:
            raise RowError("empty_response", "the model gave an empty answer")
        conversations = [
            {"from": "human", "value": row["instruction"]},
            {"from": "gpt", "value": response},
        ]
        return {"response": response, "conversations": conversations}


TAG_SCHEMAS = {
    "magpie_quality.j2": object_schema(
        {"explanation": {"type": "string", "maxLength": 160}, "input_quality": {"enum": QUALITY}}
    ),
    "magpie_difficulty.j2": object_schema(
        {
            "intent": {"type": "string", "maxLength": 200},
            "knowledge": {"type": "string", "maxLength": 200},
            "difficulty": {"enum": DIFFICULTY},
        }
    ),
    "magpie_category.j2": object_schema(
        {
            "primary_tag": {"enum": CATEGORIES},
            "other_tags": {"type": "array", "items": {"enum": CATEGORIES}, "maxItems": 3},
        }
    ),
}


class TagParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: int = Field(256, ge=32)


@register("magpie.tag", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Tag(ModelStep):
    """Magpie step 3: input quality, intent/knowledge/difficulty and task category tags (JSON)."""

    Params = TagParams
    reads = ("instruction",)
    writes = (
        "input_quality",
        "quality_explanation",
        "intent",
        "knowledge",
        "difficulty",
        "task_category",
        "other_task_category",
    )

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        return [
            chat(
                ("user", render(__file__, name, query=row["instruction"])),
                temperature=0,
                max_tokens=self.params.max_tokens,
                json_schema=schema,
            )
            for name, schema in TAG_SCHEMAS.items()
        ]

    def parse_reply(self, row: dict[str, Any], reply: Completion) -> dict[str, Any]:
        return parse_tags(reply)

    def parse(self, row: dict[str, Any], replies: list[dict[str, Any]]) -> dict[str, Any]:
        quality, difficulty, category = replies
        return {
            "input_quality": quality.get("input_quality"),
            "quality_explanation": quality.get("explanation"),
            "intent": difficulty.get("intent"),
            "knowledge": difficulty.get("knowledge"),
            "difficulty": difficulty.get("difficulty"),
            "task_category": category.get("primary_tag"),
            "other_task_category": category.get("other_tags", []),
        }


def parse_tags(completion: Completion) -> dict[str, Any]:
    """A tag object; a reply cut off by max_tokens counts as missing tags."""
    try:
        data = json.loads(completion.text)
    except ValueError:
        raise RowError("parse_error", f"tags are not JSON: {completion.text[:80]!r}") from None
    return data if isinstance(data, dict) else {}


class SelectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qualities: list[Literal["very poor", "poor", "average", "good", "excellent"]] = Field(
        default_factory=lambda: ["good", "excellent"]
    )
    top_k: int = Field(300_000, ge=1)


@register("magpie.select", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Select(KeepRows):
    """Magpie filter: good/excellent queries not ending in ':', longest responses first, top K."""

    Params = SelectParams

    def text_columns(self) -> list[str]:
        return []

    def input_columns(self) -> set[str]:
        return {"instruction", "response", "input_quality"}

    def kept(self, rows: list[dict[str, Any]], texts: list[str], ctx: StepContext) -> Iterable[int]:
        eligible = [i for i, row in enumerate(rows) if passes_filter(row, self.params.qualities)]
        eligible.sort(key=lambda i: (-len(rows[i]["response"]), i))
        return eligible[: self.params.top_k]  # written in input order (the paper then shuffles)


def passes_filter(row: dict[str, Any], qualities: list[str]) -> bool:
    return row.get("input_quality") in qualities and not str(row["instruction"]).rstrip().endswith(
        ":"
    )
