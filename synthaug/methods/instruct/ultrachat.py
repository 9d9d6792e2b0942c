"""UltraChat (Ding et al., 2023, arXiv 2305.14233).

``ultrachat.openers`` writes the opening user turns of the paper's sectors; every
list is decoded under a JSON schema:

- ``world`` (Questions about the World, first source): for each meta-topic (30
  built in, or a file) the model lists sub-topics (the paper grows 30 meta-topics
  into 1,100+ sub-topics: 37 each), then up to 10 questions per sub-topic; then,
  for each question, ``related_per_question`` new related questions (the README:
  "new relevant questions for each of the 10 questions"; the paper asks for 10
  more per question). Each question and each related question opens a dialogue
  (``ultrachat_question_kind``: ``question`` or ``related``, the latter with its
  ``ultrachat_parent_question``).
- ``entities`` (Questions about the World, second source: common real-world
  entities): for each entity the model writes 5 meta-questions; for each
  meta-question 10 more specific questions and 20 related but general ones. The
  paper keeps every meta-question and samples 200K of the 500K specific and 250K
  of the 1M general questions, so each specific question is kept with
  probability 0.4 and each general one with 0.25 (drawn per question from the
  seed). Kinds ``meta``, ``specific``, ``general``.
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
sector's range (world and entities 3-7, writing and materials 2-4). Every call is
seeded per dialogue and goes through the request cache, so a killed run replays each
finished turn from the cache. A list that does not parse is an error row; an empty
turn fails the dialogue.

``ultrachat.postprocess`` (no model call) is the paper's post-processing of the
finished dialogues. The paper names two problems of the simulated user — it slips
into the assistant's role ("role confounding"), and it is excessively polite — and
says that dialogues are filtered and polite statements excluded once generation is
done, without giving rules; these are this module's:

- a simulated user turn that talks like the assistant ("As an AI ...", "Sure, here
  is ...", "Certainly! ..."), repeats an earlier user turn, or copies an answer
  ends the dialogue before it (``role_confusion``);
- sentences of thanks or praise with no question ("Thank you so much for the
  tips!", "That's really helpful.") are removed from simulated user turns, and with
  them the next answer's opening "You're welcome!"; a user turn that is nothing but
  courtesy ends the dialogue before it (``polite``);
- a dialogue left with fewer than ``min_rounds`` rounds is an error row
  (``too_few_rounds``).

The opener (written by the opener step, not the simulator) is never changed.
``turns`` is the number of rounds kept, ``ultrachat_rounds_generated`` the number
generated and ``ultrachat_postprocess`` lists what was changed. Differs from the
paper: the prompts are this module's (the authors released no generation code),
the meta-topics, writing types and entities are built-in lists (the paper's entities
are the 10,000 most frequent of Wikidata), and the materials default to the bundled
seed inputs instead of C4.
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
Sector = Literal["world", "entities", "writing", "materials"]
SECTORS: tuple[Sector, ...] = ("world", "entities", "writing", "materials")
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
# Stand-ins for the paper's 10,000 most frequent Wikidata entities: well-known named
# entities of many kinds (people, places, works, organisations, objects, events).
ENTITIES = [
    "Albert Einstein",
    "William Shakespeare",
    "Marie Curie",
    "Leonardo da Vinci",
    "Nelson Mandela",
    "the Amazon River",
    "Mount Everest",
    "the Sahara",
    "Tokyo",
    "the Great Wall of China",
    "the Eiffel Tower",
    "the Roman Empire",
    "World War II",
    "the Olympic Games",
    "the United Nations",
    "the European Union",
    "NASA",
    "the International Space Station",
    "the Moon",
    "Jupiter",
    "the Internet",
    "Wikipedia",
    "Python (programming language)",
    "the printing press",
    "penicillin",
    "the Mona Lisa",
    "Beethoven's Ninth Symphony",
    "the Harry Potter series",
    "the FIFA World Cup",
    "the Pacific Ocean",
]
ITEM_CHARS = 100
MATERIAL_LAYOUTS = 4  # hand-made ways to join a passage and an instruction
MIN_PASSAGE_CHARS = 200  # seed-task inputs this long serve as the default passages
ROUNDS = {"world": (3, 7), "entities": (3, 7), "writing": (2, 4), "materials": (2, 4)}
SPEAKER_LABEL = re.compile(r"^\s*\**\s*(?:user|human)\s*\**\s*:\s*\**\s*", re.IGNORECASE)
OPENER_FIELDS = (
    "opener",
    "ultrachat_sector",
    "ultrachat_topic",
    "ultrachat_subtopic",
    "ultrachat_material",
    "ultrachat_expanded",
    "ultrachat_question_kind",
    "ultrachat_parent_question",
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
    related_per_question: int = Field(10, ge=0, le=200)  # 0: no related questions
    entities_path: str | None = None  # default: the 30 built-in entities
    meta_questions_per_entity: int = Field(5, ge=1, le=50)
    specific_per_meta: int = Field(10, ge=0, le=200)
    general_per_meta: int = Field(20, ge=0, le=200)
    specific_fraction: float = Field(0.4, ge=0, le=1)  # 200K of 500K
    general_fraction: float = Field(0.25, ge=0, le=1)  # 250K of 1M
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
    """UltraChat: opening user turns for the world, entities, writing and materials sectors."""

    Params = OpenersParams
    writes = OPENER_FIELDS
    uses_llm = True

    def expected_rows(self) -> int | None:
        return self.params.num_openers * len(self.params.sectors)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        producers = {
            "world": self._world,
            "entities": self._entities,
            "writing": self._writing,
            "materials": self._materials,
        }
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
                        related = self._related(ctx, topic, subtopic, questions, [first, second])
                        async with contextlib.aclosing(related):
                            async for item in related:
                                yield item

    async def _related(
        self,
        ctx: StepContext,
        topic: str,
        subtopic: str,
        questions: list[str],
        requests: list[ChatRequest],
    ) -> AsyncIterator[Opened]:
        """Each question of a sub-topic, followed by the related questions written for it."""
        p = self.params
        if not p.related_per_question:
            for question in questions:
                yield _opener(question, topic, subtopic=subtopic, kind="question"), requests
            return

        def related_prompt(question: str) -> str:
            return render(
                __file__,
                "ultrachat_related.j2",
                topic=topic,
                subtopic=subtopic,
                question=question,
                count=p.related_per_question,
            )

        lists = self._lists(
            ctx, f"related/{topic}/{subtopic}", questions, related_prompt, p.related_per_question
        )
        async with contextlib.aclosing(lists):
            async for question, third, related in lists:
                yield _opener(question, topic, subtopic=subtopic, kind="question"), requests
                if isinstance(related, Problem):
                    yield related
                    continue
                for item in related:
                    fields = _opener(
                        item, topic, subtopic=subtopic, kind="related", parent=question
                    )
                    yield fields, [*requests, third]

    async def _entities(self, ctx: StepContext) -> AsyncIterator[Opened]:
        p = self.params
        entities = read_texts(p.entities_path, "entity", False) if p.entities_path else ENTITIES

        def meta_prompt(entity: str) -> str:
            count = p.meta_questions_per_entity
            return render(__file__, "ultrachat_meta.j2", entity=entity, count=count)

        meta_lists = self._lists(ctx, "meta", entities, meta_prompt, p.meta_questions_per_entity)
        async with contextlib.aclosing(meta_lists):
            async for entity, first, metas in meta_lists:
                if isinstance(metas, Problem):
                    yield metas
                    continue
                for meta in metas:
                    yield _opener(meta, entity, kind="meta"), [first]
                for kind, size, fraction in (
                    ("specific", p.specific_per_meta, p.specific_fraction),
                    ("general", p.general_per_meta, p.general_fraction),
                ):
                    if not size or not fraction:
                        continue

                    def expand_prompt(
                        meta: str, kind: str = kind, size: int = size, entity: str = entity
                    ) -> str:
                        return render(
                            __file__,
                            f"ultrachat_{kind}.j2",
                            entity=entity,
                            question=meta,
                            count=size,
                        )

                    lists = self._lists(ctx, f"{kind}/{entity}", metas, expand_prompt, size)
                    async with contextlib.aclosing(lists):
                        async for meta, second, items in lists:
                            if isinstance(items, Problem):
                                yield items
                                continue
                            for item in items:
                                if sampled(ctx.seed("keep", kind, entity, item), fraction):
                                    fields = _opener(item, entity, kind=kind, parent=meta)
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


def sampled(seed: int, fraction: float) -> bool:
    """Whether an item drawn with ``seed`` is kept when a ``fraction`` of them are sampled."""
    return random.Random(seed).random() < fraction


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
    kind: str | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    return {
        "opener": text,
        "ultrachat_topic": topic,
        "ultrachat_subtopic": subtopic,
        "ultrachat_material": material,
        "ultrachat_expanded": expanded,
        "ultrachat_question_kind": kind,
        "ultrachat_parent_question": parent,
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


# Post-processing of the simulated user's turns (see the module docstring).
# openings only an assistant writes (a user may well say "Here is my draft" or "I'm sorry,
# but I don't follow", so those are not among them)
ASSISTANT_VOICE = re.compile(
    r"^\W*(?:as an ai\b|as a (?:large |helpful )?(?:language model|ai assistant)\b"
    r"|i'?m (?:just )?an ai\b|i am (?:just )?an ai\b"
    r"|(?:sure|certainly|of course|absolutely)\b[,!.]?\s*(?:here\b|i'?d be (?:happy|glad)\b)"
    r"|certainly[!.]|great question\b)"
    r"|\bas an ai language model\b",
    re.IGNORECASE,
)
_INTERJECTION = (
    r"(?:(?:oh|wow|ok|okay|well|alright|great|awesome|perfect|amazing|excellent|fantastic"
    r"|wonderful|nice|cool)\b[\s,!.]*)*"
)
_PRAISE_OBJECT = (
    r"(?:\s+(?:to (?:know|hear|learn)|information|info|advice|tips|suggestions|points|"
    r"explanation|answer|insights?|news|stuff)){0,2}"
)
_ADVERB = r"(?:(?:so|very|really|super|extremely|quite|truly|incredibly)\s+)?"
# praise, not interest: "That's interesting." is a user's reaction and stays
_PRAISED = (
    r"(?:helpful|great|useful|informative|amazing|awesome|insightful|wonderful|excellent|"
    r"perfect|valuable|fantastic)"
)
POLITE_SENTENCE = re.compile(
    rf"^{_INTERJECTION}(?:"
    rf"(?:thank you|thanks|many thanks|thx)(?:\s+{_ADVERB}much)?(?:\s+(?:a lot|again))?"
    rf"(?:\s+for\s+[^,;?]{{0,100}})?"
    rf"|(?:i|we)\s+{_ADVERB}appreciate\s+[^,;?]{{0,100}}"
    rf"|(?:i'?m|i am)\s+{_ADVERB}(?:grateful|thankful)(?:\s+[^,;?]{{0,100}})?"
    rf"|(?:that|this|it|these|those)(?:'s|'re| is| was| are| were| sounds| sound| seems)?\s+"
    rf"{_ADVERB}{_PRAISED}{_PRAISE_OBJECT}"
    rf"|(?:what a|such a)\s+{_ADVERB}{_PRAISED}{_PRAISE_OBJECT}"
    rf"|{_ADVERB}{_PRAISED}{_PRAISE_OBJECT}"
    rf")[\s!.]*$",
    re.IGNORECASE,
)
WELCOME = re.compile(
    r"^\W*(?:you'?re (?:very |so |most )?welcome|you are (?:very |so |most )?welcome"
    r"|(?:i'?m |i am )?(?:so |very |really )?glad (?:i could|to|that i could|you found)"
    r"|(?:it was )?my pleasure|no problem)\b[^.!?]*[.!]+\s*",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
CLAUSE = re.compile(r"[,;:]|\s+-+\s+")
INTERJECTION = re.compile(rf"^{_INTERJECTION}$", re.IGNORECASE)


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def polite_sentence(sentence: str) -> bool:
    """Whether a sentence is only courtesy: every clause thanks, praises or is an
    interjection, at least one thanks or praises, and there is no question mark."""
    if "?" in sentence:
        return False
    clauses = [c.strip() for c in CLAUSE.split(sentence) if c.strip(" .!")]
    polite = [bool(POLITE_SENTENCE.match(c)) for c in clauses]
    return any(polite) and all(
        p or INTERJECTION.match(c) for p, c in zip(polite, clauses, strict=True)
    )


def strip_politeness(text: str) -> str:
    """The user turn without its sentences of thanks or praise."""
    sentences = SENTENCE_END.split(text.strip())
    return " ".join(s for s in sentences if not polite_sentence(s)).strip()


def role_problem(text: str, earlier: list[dict[str, str]]) -> str | None:
    """Why a simulated user turn is not a user's (it talks like the assistant, repeats an
    earlier user turn or copies an answer), or None."""
    if ASSISTANT_VOICE.search(text):
        return "assistant_voice"
    words = _normalised(text)
    if any(words == _normalised(m["content"]) for m in earlier if m["role"] == "user"):
        return "repeated_question"
    answers = [_normalised(m["content"]) for m in earlier if m["role"] == "assistant"]
    if len(words) >= 40 and any(words in answer for answer in answers):
        return "copied_answer"
    return None


def postprocess_dialogue(
    messages: list[dict[str, str]], polite: bool = True, role_confusion: bool = True
) -> tuple[list[dict[str, str]], list[str]]:
    """The dialogue after the paper's post-processing, and what was changed (one note each).

    The opener and its answer are kept as they are; from the second round on, a user turn
    that talks like the assistant or repeats ends the dialogue before it; polite sentences
    are removed from the user turn (and "You're welcome" from the start of its answer); a
    user turn that was only courtesy ends the dialogue before it."""
    kept = [dict(m) for m in messages[:2]]
    notes: list[str] = []
    for start in range(2, len(messages) - 1, 2):
        number = start // 2 + 1
        user, answer = messages[start]["content"], messages[start + 1]["content"]
        problem = role_problem(user, kept) if role_confusion else None
        if problem:
            notes.append(f"round {number}: {problem}, dialogue ended before it")
            break
        if polite:
            cleaned = strip_politeness(user)
            if not cleaned:
                notes.append(f"round {number}: only courtesy, dialogue ended before it")
                break
            if cleaned != " ".join(SENTENCE_END.split(user.strip())):
                notes.append(f"round {number}: polite statements removed")
                user = cleaned
                answer = WELCOME.sub("", answer, count=1).strip() or answer
        kept += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return kept, notes


class PostprocessParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    polite: bool = True  # remove sentences of thanks or praise from simulated user turns
    role_confusion: bool = True  # end a dialogue before a user turn that is not a user's
    min_rounds: int = Field(1, ge=1)  # fewer rounds left: the dialogue is dropped


@register("ultrachat.postprocess", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Postprocess(MapStep):
    """UltraChat post-processing: end dialogues at role confusion, remove polite statements."""

    Params = PostprocessParams
    reads = ("messages", "turns")
    writes = ("messages", "turns", "ultrachat_rounds_generated", "ultrachat_postprocess")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        messages, notes = postprocess_dialogue(row["messages"], p.polite, p.role_confusion)
        rounds = len(messages) // 2
        if rounds < p.min_rounds:
            reason = "; ".join(notes)
            raise RowError(
                "too_few_rounds", f"{rounds} round(s) left (min {p.min_rounds}): {reason}"
            )
        fields = {
            "messages": messages,
            "turns": rounds,
            "ultrachat_rounds_generated": row["turns"],
            "ultrachat_postprocess": notes,
        }
        return [{**row, **fields}]
