"""UltraChat (Ding et al., 2023, arXiv 2305.14233).

``ultrachat.openers`` writes the opening user turns of the paper's three sectors;
every list is decoded under a JSON schema:

- ``world`` (Questions about the World): for each meta-topic (30 built in, or a
  file) the model lists sub-topics (the paper grows 30 meta-topics into 1,100+
  sub-topics: 37 each), then up to 10 questions per sub-topic; each question opens
  a dialogue.
- ``writing`` (Writing and Creation): for each of 20 writing types the model lists
  instructions (the paper: 200 per type); 80% of them, drawn per instruction, are
  rewritten by the model into a more detailed version.
- ``materials`` (Assistance on Existent Materials): for each passage (a file, or the
  longer inputs of the bundled seed tasks) the model writes up to 5 questions or
  instructions; one of several hand-made templates joins passage and instruction
  into the opening turn.

``ultrachat.dialogue`` then runs the conversation: the assistant model answers; a
user-simulator model (``user_backend``: any named backend, by default the same
model) reads the history and, acting like a human user, writes a follow-up or a
related request; for a number of rounds drawn per dialogue from the seed within the
sector's range (world 3-7, writing and materials 2-4). Every call is seeded per
dialogue and goes through the request cache, so a killed run replays each finished
turn from the cache. A list that does not parse is an error row; an empty turn
fails the dialogue.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...engine.window import ordered_completions
from ...io import read_records
from ...llm.client import LLMClient, LLMError
from ...llm.types import ChatRequest, Completion, chat, object_schema
from ...records import META, derive
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "Ding et al., 2023, UltraChat (arXiv 2305.14233)"
TAXONOMY = "synthesis / general model distillation (multi-turn dialogue)"
STAGE = "instruction tuning"
Sector = Literal["world", "writing", "materials"]
SECTORS: tuple[Sector, ...] = ("world", "writing", "materials")
META_TOPICS = [
    "technology",
    "health and medicine",
    "history",
    "natural sciences",
    "arts and culture",
    "economics and finance",
    "education",
    "environment and climate",
    "politics and government",
    "sports",
    "food and cooking",
    "travel and geography",
    "philosophy and religion",
    "psychology",
    "law",
    "business and management",
    "entertainment and media",
    "literature",
    "music",
    "mathematics",
    "engineering",
    "agriculture",
    "fashion and design",
    "family and relationships",
    "languages and linguistics",
    "space and astronomy",
    "transportation",
    "architecture",
    "computer programming",
    "society and social issues",
]
WRITING_TYPES = [
    "essay",
    "short story",
    "poem",
    "email",
    "blog post",
    "news article",
    "product description",
    "speech",
    "letter",
    "screenplay scene",
    "song lyrics",
    "advertisement",
    "review",
    "report",
    "social media post",
    "cover letter",
    "recipe",
    "press release",
    "biography",
    "summary",
]
ITEM_CHARS = 100
MATERIAL_LAYOUTS = 4  # hand-made ways to join a passage and an instruction
MIN_PASSAGE_CHARS = 200  # seed-task inputs this long serve as the default passages
ROUNDS = {"world": (3, 7), "writing": (2, 4), "materials": (2, 4)}
SPEAKER_LABEL = re.compile(r"^\s*\**\s*(?:user|human)\s*\**\s*:\s*\**\s*", re.IGNORECASE)
OPENER_FIELDS = (
    "opener",
    "ultrachat_sector",
    "ultrachat_topic",
    "ultrachat_subtopic",
    "ultrachat_material",
    "ultrachat_expanded",
)


@dataclass(frozen=True)
class Problem:
    """Why a list could not be used, and for which prompt (``at``: its kind and subject)."""

    kind: str
    message: str
    at: tuple[str, ...]


Opened = Problem | tuple[dict[str, Any], list[ChatRequest]]


def list_schema(size: int) -> dict[str, Any]:
    """``{"items": [size strings]}``, each short (a topic, question or request, not an essay)."""
    item = {"type": "string", "maxLength": ITEM_CHARS}
    items = {"type": "array", "items": item, "minItems": size, "maxItems": size}
    return object_schema({"items": items})


def parse_list(text: str) -> list[str] | None:
    """The distinct non-empty items of a ``{"items": [...]}`` reply; None if it does not parse."""
    try:
        items = json.loads(text).get("items")
    except (ValueError, AttributeError):
        return None
    if not isinstance(items, list):
        return None
    seen: dict[str, str] = {}
    for item in items:
        if isinstance(item, str) and (clean := item.strip()):
            seen.setdefault(clean.lower(), clean)
    return list(seen.values()) or None


def read_texts(path: str, column: str, paragraphs: bool) -> list[str]:
    """Texts of a ``.txt`` file (lines, or blank-line paragraphs) or one column of a records file."""
    if path.endswith(".txt"):
        text = Path(path).read_text(encoding="utf-8")
        parts = re.split(r"\n\s*\n", text) if paragraphs else text.splitlines()
        return [part.strip() for part in parts if part.strip()]
    return [str(r[column]).strip() for r in read_records(path, required=(column,))]


def seed_task_passages() -> list[str]:
    """The inputs of the bundled Self-Instruct seed tasks that are long enough to be passages."""
    path = resources.files("synthaug") / "data" / "self_instruct_seed_tasks.jsonl"
    inputs = (
        str(i.get("input") or "").strip()
        for task in read_records(str(path))
        for i in task.get("instances") or []
    )
    return [text for text in inputs if len(text) >= MIN_PASSAGE_CHARS]


def clean_user_turn(text: str) -> str:
    """The simulated user's message: no speaker label, no surrounding quotes."""
    text = SPEAKER_LABEL.sub("", text.strip(), count=1).strip()
    if len(text) > 1 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


class OpenersParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sectors: list[Sector] = Field(default_factory=lambda: list(SECTORS), min_length=1)
    num_openers: int = Field(100, ge=1)  # per sector
    meta_topics_path: str | None = None  # default: the 30 built-in meta-topics
    subtopics_per_topic: int = Field(37, ge=1, le=200)  # 1,100+ sub-topics from 30
    questions_per_subtopic: int = Field(10, ge=1, le=200)
    writing_types_path: str | None = None  # default: the 20 built-in writing types
    instructions_per_type: int = Field(200, ge=1, le=1000)
    expand_fraction: float = Field(0.8, ge=0, le=1)
    materials_path: str | None = None  # default: long inputs of the bundled seed tasks
    materials_column: str = "text"
    questions_per_passage: int = Field(5, ge=1, le=50)
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(2048, ge=16)
    requests_in_flight: int | None = Field(None, ge=1)


@register("ultrachat.openers", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Openers(SourceStep):
    """UltraChat: opening user turns for the world, writing and materials sectors."""

    Params = OpenersParams
    writes = OPENER_FIELDS
    uses_llm = True

    def expected_rows(self) -> int | None:
        return self.params.num_openers * len(self.params.sectors)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        producers = {"world": self._world, "writing": self._writing, "materials": self._materials}
        for sector in self.params.sectors:
            produced = 0
            async with contextlib.aclosing(producers[sector](ctx)) as openers:
                async for item in openers:
                    if isinstance(item, Problem):
                        yield self._failed(sector, item)
                        continue
                    yield self._record(ctx, sector, *item, produced)
                    produced += 1
                    if produced >= self.params.num_openers:
                        break

    def _failed(self, sector: str, problem: Problem) -> dict[str, Any]:
        """An error row (counted in the summary, written to the errors file)."""
        position = (sector, "error", *problem.at)
        return dropped(
            self, None, problem.kind, problem.message, position, {"ultrachat_sector": sector}
        )

    def _record(self, ctx, sector, fields, requests, number) -> dict[str, Any]:
        llm = ctx.require_llm()
        record = self.generated(
            {"ultrachat_sector": sector, **fields}, ctx, requests[-1], sector, number
        )
        record[META]["request"] = [llm.key(r) for r in requests]
        return record

    async def _lists(
        self,
        ctx: StepContext,
        kind: str,
        parents: list[str],
        prompt: Callable[[str], str],
        size: int,
    ) -> AsyncIterator[tuple[str, ChatRequest, list[str] | Problem]]:
        """For each parent in order: the request and the list the model wrote (or why none)."""
        p, llm = self.params, ctx.require_llm()

        def requests() -> Iterator[ChatRequest]:
            for parent in parents:
                yield chat(
                    ("user", prompt(parent)),
                    temperature=p.temperature,
                    max_tokens=p.max_tokens,
                    json_schema=list_schema(size),
                    seed=ctx.seed(kind, parent),
                )

        results = ordered_completions(
            llm, requests(), p.requests_in_flight or llm.backend.max_concurrency
        )
        async with contextlib.aclosing(results):
            async for index, request, result in results:
                yield parents[index], request, _items_or_problem(result, kind, parents[index])

    async def _world(self, ctx: StepContext) -> AsyncIterator[Opened]:
        p = self.params
        topics = (
            read_texts(p.meta_topics_path, "topic", False) if p.meta_topics_path else META_TOPICS
        )

        def subtopics_prompt(topic: str) -> str:
            return render(
                __file__, "ultrachat_subtopics.j2", topic=topic, count=p.subtopics_per_topic
            )

        subtopic_lists = self._lists(
            ctx, "subtopics", topics, subtopics_prompt, p.subtopics_per_topic
        )
        async with contextlib.aclosing(subtopic_lists):
            async for topic, first, subtopics in subtopic_lists:
                if isinstance(subtopics, Problem):
                    yield subtopics
                    continue

                def questions_prompt(subtopic: str, topic: str = topic) -> str:
                    return render(
                        __file__,
                        "ultrachat_questions.j2",
                        topic=topic,
                        subtopic=subtopic,
                        count=p.questions_per_subtopic,
                    )

                question_lists = self._lists(
                    ctx, f"questions/{topic}", subtopics, questions_prompt, p.questions_per_subtopic
                )
                async with contextlib.aclosing(question_lists):
                    async for subtopic, second, questions in question_lists:
                        if isinstance(questions, Problem):
                            yield questions
                            continue
                        for question in questions:
                            fields = _opener(question, topic, subtopic=subtopic)
                            yield fields, [first, second]

    async def _writing(self, ctx: StepContext) -> AsyncIterator[Opened]:
        p, llm = self.params, ctx.require_llm()
        kinds = (
            read_texts(p.writing_types_path, "type", False)
            if p.writing_types_path
            else WRITING_TYPES
        )

        def instructions_prompt(kind: str) -> str:
            return render(
                __file__, "ultrachat_writing.j2", kind=kind, count=p.instructions_per_type
            )

        lists = self._lists(ctx, "writing", kinds, instructions_prompt, p.instructions_per_type)
        async with contextlib.aclosing(lists):
            async for kind, listed, instructions in lists:
                if isinstance(instructions, Problem):
                    yield instructions
                    continue
                expansions = {
                    i: self._expansion(ctx, kind, text)
                    for i, text in enumerate(instructions)
                    if random.Random(ctx.seed("expand?", kind, text)).random() < p.expand_fraction
                }
                replies = ordered_completions(
                    llm,
                    iter(expansions.values()),
                    p.requests_in_flight or llm.backend.max_concurrency,
                )
                expanded = dict(zip(expansions, [r async for _, _, r in replies], strict=True))
                for i, text in enumerate(instructions):
                    reply = expanded.get(i)
                    detailed = reply.text.strip() if isinstance(reply, Completion) else ""
                    requests = [listed, expansions[i]] if detailed else [listed]
                    fields = _opener(detailed or text, kind, expanded=bool(detailed))
                    yield fields, requests

    def _expansion(self, ctx: StepContext, kind: str, instruction: str) -> ChatRequest:
        return chat(
            ("user", render(__file__, "ultrachat_expand.j2", kind=kind, instruction=instruction)),
            temperature=self.params.temperature,
            max_tokens=self.params.max_tokens,
            seed=ctx.seed("expand", kind, instruction),
        )

    async def _materials(self, ctx: StepContext) -> AsyncIterator[Opened]:
        p = self.params
        passages = (
            read_texts(p.materials_path, p.materials_column, True)
            if p.materials_path
            else seed_task_passages()
        )
        source = p.materials_path or "self_instruct_seed_tasks"

        def questions_prompt(passage: str) -> str:
            return render(
                __file__, "ultrachat_material.j2", passage=passage, count=p.questions_per_passage
            )

        lists = self._lists(ctx, "material", passages, questions_prompt, p.questions_per_passage)
        async with contextlib.aclosing(lists):
            async for passage, request, instructions in lists:
                if isinstance(instructions, Problem):
                    yield instructions
                    continue
                for instruction in instructions:
                    layout = random.Random(ctx.seed("layout", passage, instruction)).randrange(
                        MATERIAL_LAYOUTS
                    )
                    text = material_opener(passage, instruction, layout)
                    yield _opener(text, source, material=passage), [request]


def material_opener(passage: str, instruction: str, layout: int) -> str:
    """Passage and instruction joined by hand-made template number ``layout``."""
    return render(
        __file__,
        "ultrachat_material_opener.j2",
        passage=passage,
        instruction=instruction,
        layout=layout,
    ).strip()


def _opener(
    text: str,
    topic: str,
    subtopic: str | None = None,
    material: str | None = None,
    expanded: bool | None = None,
) -> dict[str, Any]:
    return {
        "opener": text,
        "ultrachat_topic": topic,
        "ultrachat_subtopic": subtopic,
        "ultrachat_material": material,
        "ultrachat_expanded": expanded,
    }


def _items_or_problem(result: Completion | LLMError, *at: str) -> list[str] | Problem:
    if isinstance(result, LLMError):
        return Problem(result.kind, str(result), at)
    items = parse_list(result.text)
    if items is None:
        return Problem("parse_error", f"list is not JSON: {result.text[:80]!r}", at)
    return items


class DialogueParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_backend: str | None = None  # a name in the recipe's backends; None: the default
    rounds: dict[Sector, tuple[int, int]] = Field(default_factory=lambda: dict(ROUNDS))
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(2048, ge=16)  # per assistant turn
    user_temperature: float = Field(1.0, ge=0, le=2)
    user_max_tokens: int = Field(2048, ge=16)  # per simulated user turn

    @field_validator("rounds")
    @classmethod
    def _ranges(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        for sector, (low, high) in value.items():
            if not 1 <= low <= high:
                raise ValueError(f"{sector}: need 1 <= min <= max rounds, got [{low}, {high}]")
        return {**ROUNDS, **value}


@register("ultrachat.dialogue", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Dialogue(MapStep):
    """UltraChat: a multi-turn dialogue between an assistant and a simulated user."""

    Params = DialogueParams
    reads = ("opener", "ultrachat_sector")
    writes = ("messages", "turns")
    uses_llm = True
    backend_params = ("user_backend",)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        assistant, user = ctx.require_llm(), ctx.require_llm(p.user_backend)
        row_id = row[META]["id"]
        seed = ctx.seed(row_id)
        turns = random.Random(seed).randint(*p.rounds[row["ultrachat_sector"]])
        messages = [{"role": "user", "content": row["opener"]}]
        keys: list[str] = []
        for number in range(turns):
            if number:
                request = self._user_request(messages, ctx.seed(row_id, "user", number))
                text = await _reply(user, request, keys, f"user turn {number}", clean_user_turn)
                messages.append({"role": "user", "content": text})
            request = chat(
                *((m["role"], m["content"]) for m in messages),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                seed=ctx.seed(row_id, "assistant", number),
            )
            text = await _reply(assistant, request, keys, f"assistant turn {number}", str.strip)
            messages.append({"role": "assistant", "content": text})
        fields = {"messages": messages, "turns": turns}
        return [
            derive(
                row,
                fields,
                step=self.name,
                method=self.method,
                model=assistant.backend.describe(),
                user_model=user.backend.describe(),
                request=keys,
                seed=seed,
            )
        ]

    def _user_request(self, messages: list[dict[str, str]], seed: int) -> ChatRequest:
        prompt = render(__file__, "ultrachat_user.j2", messages=messages)
        return chat(
            ("user", prompt),
            temperature=self.params.user_temperature,
            max_tokens=self.params.user_max_tokens,
            stop=("\nAssistant:", "\nAI:"),
            seed=seed,
        )


async def _reply(
    llm: LLMClient, request: ChatRequest, keys: list[str], what: str, clean: Callable[[str], str]
) -> str:
    """The cleaned text of one turn (its request key noted); an empty turn fails the row."""
    keys.append(llm.key(request))
    text = clean((await llm.complete(request)).text)
    if not text:
        raise RowError("empty_turn", f"{what}: the model wrote nothing")
    return text
