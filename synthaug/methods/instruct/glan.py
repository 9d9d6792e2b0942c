"""GLAN, Generalized Instruction Tuning (Li et al., 2024, arXiv 2402.13064).

GLAN builds instructions from a taxonomy of human knowledge instead of from
seed examples. The taxonomy is a human-editable YAML file: disciplines →
subjects → a syllabus of class sessions, each with key concepts. The
``glan.taxonomy`` step expands it level by level, asking the model only for
what is missing — for each discipline without ``subjects`` it lists subjects,
then for each subject without ``syllabus`` it writes the class sessions and
their key concepts (both under JSON schemas) — and writes the expanded
taxonomy atomically to ``write_to``, so a human can review or edit any level
and feed it back as ``path``. It then samples, per subject, homework specs:
one or more class sessions (up to ``max_sessions``) and a subset of their key
concepts, seeded by the subject and the question number. ``glan.homework``
has the model write a homework question about each spec and then answer it.
Records carry ``glan_discipline``, ``glan_subject``, ``glan_session`` (the
titles of the sampled sessions, a list) and ``glan_concepts``.

Every request is a function of the taxonomy so far and of seeds derived from
the names in it, so a killed expansion resumes from the request cache with
no repeated model call, and feeding the written taxonomy back reproduces the
same homework requests.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError
from ...io.writers import write_text_atomic
from ...io.yaml_file import read_yaml
from ...llm.client import LLMClient, LLMError
from ...llm.types import ChatRequest, chat, json_object
from ...records import META, record_id
from ..registry import register
from ..templates import render

PAPER = "Li et al., 2024, GLAN: Generalized Instruction Tuning (arXiv 2402.13064)"
TAXONOMY = "synthesis / general model distillation (taxonomy-driven generation)"
STAGE = "instruction tuning"
DEFAULT_TAXONOMY = "glan_taxonomy.yaml"
SHIPPED = {"general": DEFAULT_TAXONOMY, "education": "education_taxonomy.yaml"}


def _names(count: int, max_length: int) -> dict[str, Any]:
    item = {"type": "string", "minLength": 1, "maxLength": max_length}
    return {"type": "array", "items": item, "minItems": count, "maxItems": count}


def subjects_schema(count: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"subjects": _names(count, 60)},
        "required": ["subjects"],
        "additionalProperties": False,
    }


def syllabus_schema(sessions: int, concepts: int) -> dict[str, Any]:
    session = {
        "type": "object",
        "properties": {
            "session": {"type": "string", "minLength": 1, "maxLength": 80},
            "concepts": _names(concepts, 40),
        },
        "required": ["session", "concepts"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "sessions": {
                "type": "array",
                "items": session,
                "minItems": sessions,
                "maxItems": sessions,
            }
        },
        "required": ["sessions"],
        "additionalProperties": False,
    }


QUESTION_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string", "minLength": 1, "maxLength": 400}},
    "required": ["question"],
    "additionalProperties": False,
}


class TaxonomyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # default: the bundled example taxonomy (``shipped``)
    shipped: Literal["general", "education"] = "general"  # education: two school sciences
    write_to: str | None = None  # where the expanded taxonomy YAML goes (none: not written)
    subjects_per_discipline: int = Field(10, ge=1)
    sessions_per_subject: int = Field(10, ge=1)
    concepts_per_session: int = Field(5, ge=1)
    questions_per_subject: int = Field(10, ge=1)
    max_sessions: int = Field(2, ge=1)  # a homework spec combines one to this many sessions
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(2048, ge=16)


@register("glan.taxonomy", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Taxonomy(SourceStep):
    """GLAN: expand a discipline → subject → syllabus taxonomy, then sample homework specs."""

    Params = TaxonomyParams
    writes = ("glan_discipline", "glan_subject", "glan_session", "glan_concepts")
    uses_llm = True
    seed_data: ClassVar[dict[str, str]] = {"path": DEFAULT_TAXONOMY}

    @classmethod
    def seed_files(cls, params: dict[str, Any]) -> dict[str, str]:
        return {"path": SHIPPED[params.get("shipped", "general")]}

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        load_taxonomy(self.params.path, SHIPPED[self.params.shipped])  # fails before any call

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        source = p.path or SHIPPED[p.shipped]
        taxonomy = load_taxonomy(p.path, SHIPPED[p.shipped])
        made: dict[tuple[str, ...], ChatRequest] = {}
        await asyncio.gather(
            *(self._fill_subjects(d, ctx, llm, made) for d in taxonomy if d["subjects"] is None)
        )
        self._save(taxonomy)
        await asyncio.gather(
            *(
                self._fill_syllabus(d, s, ctx, llm, made)
                for d in taxonomy
                for s in d["subjects"] or []
                if s["syllabus"] is None
            )
        )
        self._save(taxonomy)
        for discipline in taxonomy:
            for subject in discipline["subjects"] or []:
                requests = [
                    made[key]
                    for key in ((discipline["name"],), (discipline["name"], subject["name"]))
                    if key in made
                ]
                for number in range(p.questions_per_subject):
                    spec = self.homework_spec(discipline["name"], subject, number, ctx)
                    if spec is not None:
                        yield self._record(spec, ctx, llm, requests, source, number)

    async def _fill_subjects(
        self,
        discipline: dict[str, Any],
        ctx: StepContext,
        llm: LLMClient,
        made: dict[tuple[str, ...], ChatRequest],
    ) -> None:
        p = self.params
        prompt = render(
            __file__,
            "glan_subjects.j2",
            discipline=discipline["name"],
            count=p.subjects_per_discipline,
        )
        request = self._request(
            prompt, subjects_schema(p.subjects_per_discipline), ctx, discipline["name"]
        )
        names = parse_subjects(await _text(llm, request))
        if names:
            discipline["subjects"] = [{"name": name, "syllabus": None} for name in names]
            made[(discipline["name"],)] = request

    async def _fill_syllabus(
        self,
        discipline: dict[str, Any],
        subject: dict[str, Any],
        ctx: StepContext,
        llm: LLMClient,
        made: dict[tuple[str, ...], ChatRequest],
    ) -> None:
        p = self.params
        siblings = [s["name"] for s in discipline["subjects"] if s is not subject]
        prompt = render(
            __file__,
            "glan_syllabus.j2",
            discipline=discipline["name"],
            subject=subject["name"],
            siblings=siblings,
            sessions=p.sessions_per_subject,
            concepts=p.concepts_per_session,
        )
        schema = syllabus_schema(p.sessions_per_subject, p.concepts_per_session)
        request = self._request(prompt, schema, ctx, discipline["name"], subject["name"])
        sessions = parse_syllabus(await _text(llm, request))
        if sessions:
            subject["syllabus"] = sessions
            made[(discipline["name"], subject["name"])] = request

    def _request(
        self, prompt: str, schema: dict[str, Any], ctx: StepContext, *where: str
    ) -> ChatRequest:
        return chat(
            ("user", prompt),
            temperature=self.params.temperature,
            max_tokens=self.params.max_tokens,
            json_schema=schema,
            seed=ctx.seed("expand", *where),
        )

    def _save(self, taxonomy: list[dict[str, Any]]) -> None:
        if self.params.write_to:
            write_text_atomic(self.params.write_to, dump_taxonomy(taxonomy))

    def homework_spec(
        self, discipline: str, subject: dict[str, Any], number: int, ctx: StepContext
    ) -> dict[str, Any] | None:
        """One to ``max_sessions`` class sessions and a non-empty subset of their key concepts."""
        syllabus = subject["syllabus"] or []
        if not syllabus:
            return None
        rng = random.Random(ctx.seed("homework", discipline, subject["name"], number))
        count = rng.randint(1, min(self.params.max_sessions, len(syllabus)))
        sessions = sorted(rng.sample(range(len(syllabus)), count))
        concepts = []
        for index in sessions:
            pool = syllabus[index]["concepts"]
            concepts += rng.sample(pool, rng.randint(1, len(pool))) if pool else []
        return {
            "glan_discipline": discipline,
            "glan_subject": subject["name"],
            "glan_session": [syllabus[i]["session"] for i in sessions],
            "glan_concepts": concepts or [syllabus[sessions[0]]["session"]],
        }

    def _record(
        self,
        spec: dict[str, Any],
        ctx: StepContext,
        llm: LLMClient,
        requests: list[ChatRequest],
        source: str,
        number: int,
    ) -> dict[str, Any]:
        return {
            **spec,
            META: {
                "id": record_id(self.name, spec["glan_discipline"], spec["glan_subject"], number),
                "parents": [],
                "step": self.name,
                "method": self.method,
                "model": llm.backend.describe(),
                "request": [llm.key(r) for r in requests],
                "source": source,
            },
        }


class HomeworkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)  # the question
    answer_max_tokens: int = Field(2048, ge=16)


@register("glan.homework", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Homework(MapStep):
    """GLAN: write a homework question about sampled class sessions and key concepts, answer it."""

    Params = HomeworkParams
    reads = ("glan_discipline", "glan_subject", "glan_session", "glan_concepts")
    writes = ("instruction", "output", "messages")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        seed = ctx.seed(row[META]["id"])
        prompt = render(
            __file__,
            "glan_question.j2",
            discipline=row["glan_discipline"],
            subject=row["glan_subject"],
            sessions=row["glan_session"],
            concepts=row["glan_concepts"],
        )
        ask = chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            json_schema=QUESTION_SCHEMA,
            seed=seed,
        )
        question = parse_question((await llm.complete(ask)).text)
        if question is None:
            raise RowError("unparseable_question", "the question reply is not usable JSON")
        answer_request = chat(
            ("user", question),
            temperature=p.temperature,
            max_tokens=p.answer_max_tokens,
            seed=seed + 1,
        )
        answer = (await llm.complete(answer_request)).text.strip()
        if not answer:
            raise RowError("empty_answer", "the model gave an empty answer")
        fields = {
            "instruction": question,
            "output": answer,
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ],
        }
        return [self.derived(row, fields, ctx, [ask, answer_request], seed=seed)]


async def _text(llm: LLMClient, request: ChatRequest) -> str:
    """The reply's text; a failed call counts as an empty reply (that level stays missing)."""
    try:
        return (await llm.complete(request)).text
    except LLMError:
        return ""


def is_name(text: str) -> bool:
    """A usable name is mostly letters (the small model fills lists with timestamps)."""
    return bool(text) and sum(c.isalpha() or c.isspace() for c in text) >= len(text) / 2


def _clean(values: Any) -> list[str]:
    """Stripped names without case-insensitive repeats, in order."""
    seen: dict[str, str] = {}
    for value in values if isinstance(values, list) else []:
        text = str(value).strip()
        if is_name(text) and text.lower() not in seen:
            seen[text.lower()] = text
    return list(seen.values())


def parse_subjects(text: str) -> list[str]:
    """The subject names of a reply (empty when it is unusable)."""
    return _clean(json_object(text).get("subjects"))


def parse_syllabus(text: str) -> list[dict[str, Any]]:
    """The class sessions of a reply, each ``{session, concepts}``; repeats and blanks dropped."""
    sessions, titles = [], set()
    for item in json_object(text).get("sessions") or []:
        if not isinstance(item, dict):
            continue
        title = str(item.get("session", "")).strip()
        if is_name(title) and title.lower() not in titles:
            titles.add(title.lower())
            sessions.append({"session": title, "concepts": _clean(item.get("concepts"))})
    return sessions


def parse_question(text: str) -> str | None:
    question = str(json_object(text).get("question", "")).strip()
    return question or None


def load_taxonomy(path: str | None, builtin: str = DEFAULT_TAXONOMY) -> list[dict[str, Any]]:
    """The taxonomy's disciplines (of ``path``, else of the packaged ``builtin``), normalised;
    ``None`` marks a level still to expand."""
    where, raw = read_yaml(path, builtin, "taxonomy")
    disciplines = raw.get("disciplines") if isinstance(raw, dict) else None
    if not isinstance(disciplines, list) or not disciplines:
        raise InputError(where, "a GLAN taxonomy needs a non-empty 'disciplines' list")
    return [_discipline(item, where, i) for i, item in enumerate(disciplines)]


def _discipline(item: Any, where: str, index: int) -> dict[str, Any]:
    name, subjects = _named(item, where, f"disciplines[{index}]")
    if not subjects.get("subjects"):  # missing or empty: the model fills it
        return {"name": name, "subjects": None}
    if not isinstance(subjects["subjects"], list):
        raise InputError(where, "must be a list", field=f"disciplines[{index}].subjects")
    return {
        "name": name,
        "subjects": [
            _subject(s, where, f"disciplines[{index}].subjects[{j}]")
            for j, s in enumerate(subjects["subjects"])
        ],
    }


def _subject(item: Any, where: str, field: str) -> dict[str, Any]:
    name, rest = _named(item, where, field)
    syllabus = rest.get("syllabus")
    if not syllabus:
        return {"name": name, "syllabus": None}
    if not isinstance(syllabus, list):
        raise InputError(where, "must be a list", field=f"{field}.syllabus")
    sessions = []
    for k, session in enumerate(syllabus):
        if not isinstance(session, dict) or not str(session.get("session") or "").strip():
            raise InputError(where, "needs a 'session' title", field=f"{field}.syllabus[{k}]")
        concepts = session.get("concepts") or []
        if not isinstance(concepts, list):
            raise InputError(where, "must be a list", field=f"{field}.syllabus[{k}].concepts")
        given = [str(c).strip() for c in concepts if str(c).strip()]
        sessions.append({"session": str(session["session"]).strip(), "concepts": given})
    return {"name": name, "syllabus": sessions}


def _named(item: Any, where: str, field: str) -> tuple[str, dict[str, Any]]:
    """A level given as a bare name or as a mapping with ``name``."""
    if isinstance(item, str) and item.strip():
        return item.strip(), {}
    if isinstance(item, dict) and str(item.get("name") or "").strip():
        return str(item["name"]).strip(), item
    raise InputError(where, "needs a name", field=field)


def dump_taxonomy(taxonomy: list[dict[str, Any]]) -> str:
    """The taxonomy as YAML, levels still missing left out (so a rerun fills them)."""
    disciplines = []
    for discipline in taxonomy:
        entry: dict[str, Any] = {"name": discipline["name"]}
        if discipline["subjects"] is not None:
            entry["subjects"] = [
                {"name": s["name"]} | ({"syllabus": s["syllabus"]} if s["syllabus"] else {})
                for s in discipline["subjects"]
            ]
        disciplines.append(entry)
    return yaml.safe_dump(
        {"disciplines": disciplines}, sort_keys=False, allow_unicode=True, width=100
    )
