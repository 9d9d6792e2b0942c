"""Rewrite to a target style while keeping listed facts (bioR-style; Allen-Zhu & Li, 2023,
"Physics of Language Models: Part 3.1, Knowledge Storage and Extraction", arXiv 2309.14316).

The paper builds *bioS*, synthetic biographies filled from templates over an
attribute table per person (birth date, birth city, university, major,
employer, employer's city), and *bioR*, the same people's biographies
rewritten by an LLM into close-to-real prose; because every attribute is
known, one can check what a rewrite kept. Two steps implement it:

- ``rewrite.bios`` (no model) draws distinct people with a seeded generator:
  names from first/middle/last-name pools, a birth date (years 1900–2099,
  days 1–28 of any month, as in bioS), a birth city, university, major and
  employer (whose city follows from it), each stated by one of a few sentence
  templates. Every record has the bioS ``text`` and its ``facts``, one
  ``attribute: value`` line per attribute.
- ``rewrite.style`` rewrites each record's text into a target register
  (a biography, a news report, a formal letter, ... drawn per rewrite from
  ``registers``), asking that the facts be kept. The facts come from a column
  or, with ``facts_column: null``, from the model itself (one call, decoded
  under a JSON schema that asks for a list). A deterministic check then
  decides per fact whether it survived: the fact's key value (the part after
  ``attribute:``) appears in the rewrite after normalisation, or enough of its
  key tokens do (numbers and capitalised words; every word when there are
  none). Records report ``facts_kept``, ``facts_lost``, ``fact_survival``
  (kept / listed) and a one-line ``facts_summary``; a rewrite below
  ``min_survival`` fails its row with kind ``facts_lost``. The paper's bioR
  has one rewrite per person (``rewrites: 1``; its "multi" variants use more);
  temperature 0.7 and 512 tokens are this module's defaults.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...curate.text import Normalization, words
from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, chat, object_schema
from ...records import META, source_record
from ..registry import register
from ..templates import render

PAPER = "Allen-Zhu & Li, 2023, Physics of Language Models 3.1, bioS / bioR (arXiv 2309.14316)"
TAXONOMY = "synthesis / data augmentation (rewriting with fact preservation)"
STAGE = "pre-training"
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
SENTENCES = {
    "birth date": ["{who} was born on {value}.", "{who} came into this world on {value}."],
    "birth city": ["{who} spent early years in {value}.", "{who} grew up in {value}."],
    "university": [
        "{who} studied at {value}.",
        "{who} received mentorship from the faculty of {value}.",
    ],
    "major": ["{who} completed a degree in {value}.", "{who} focused on {value} at university."],
    "employer": ["{who} worked for {value}.", "{who} held a professional role at {value}."],
    "employer city": ["{who} was employed in {value}.", "{who} worked in {value}."],
}
CLEAN = Normalization(strip_punctuation=True)
NUMBERING = re.compile(r"^(?:\d+[.)]\s*)+")


@cache
def attribute_pools() -> dict[str, Any]:
    """The bundled name, city, university, major and employer pools."""
    source = resources.files("synthaug") / "data" / "bios_attributes.json"
    return json.loads(source.read_text(encoding="utf-8"))


def name_count() -> int:
    pools = attribute_pools()
    return len(pools["first_names"]) * len(pools["middle_names"]) * len(pools["last_names"])


def person(rng: random.Random, number: int) -> dict[str, str]:
    """The attributes of the person whose full name is combination ``number`` of the pools."""
    pools = attribute_pools()
    first, rest = divmod(number, len(pools["middle_names"]) * len(pools["last_names"]))
    middle, last = divmod(rest, len(pools["last_names"]))
    employer = rng.choice(pools["employers"])
    born = f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1900, 2099)}"
    return {
        "name": " ".join(
            (pools["first_names"][first], pools["middle_names"][middle], pools["last_names"][last])
        ),
        "birth date": born,
        "birth city": rng.choice(pools["cities"]),
        "university": rng.choice(pools["universities"]),
        "major": rng.choice(pools["majors"]),
        "employer": employer,
        "employer city": pools["employer_cities"][employer],
    }


def biography(rng: random.Random, attributes: dict[str, str]) -> str:
    """The bioS text: one templated sentence per attribute, the first naming the person in full."""
    first = attributes["name"].split()[0]
    return " ".join(
        rng.choice(templates).format(
            who=attributes["name"] if number == 0 else first, value=attributes[attribute]
        )
        for number, (attribute, templates) in enumerate(SENTENCES.items())
    )


class BiosParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_people: int = Field(1000, ge=1, le=name_count())  # distinct full names


@register("rewrite.bios", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Bios(SourceStep):
    """bioS: seeded synthetic biographies over attribute tables, with their ground-truth facts."""

    Params = BiosParams
    writes = ("text", "facts", "person")

    def expected_rows(self) -> int | None:
        return self.params.num_people

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        numbers = random.Random(ctx.seed("names")).sample(
            range(name_count()), self.params.num_people
        )
        for index, number in enumerate(numbers):
            rng = random.Random(ctx.seed("person", index))
            attributes = person(rng, number)
            fields = {
                "text": biography(rng, attributes),
                "facts": [f"{key}: {value}" for key, value in attributes.items()],
                "person": attributes,
            }
            yield source_record(fields, source=self.name, index=index)


def fact_value(fact: str) -> str:
    """What a fact asserts: the part after ``attribute:`` when there is one."""
    attribute, colon, value = fact.partition(":")
    return value.strip() if colon and value.strip() and len(attribute.split()) <= 4 else fact


def key_tokens(fact: str) -> list[str]:
    """A fact's key tokens: numbers and capitalised words of its value; else all its words."""
    value = fact_value(fact)
    marked = [w for w in value.split() if w[:1].isupper() or w[:1].isdigit()]
    return words(" ".join(marked)) or words(value)


def fact_kept(fact: str, text: str, min_overlap: float = 1.0) -> bool:
    """Whether ``text`` still states ``fact``: its value as a substring, or enough key tokens."""
    value = CLEAN.apply(fact_value(fact))
    if value and value in CLEAN.apply(text):
        return True
    tokens = key_tokens(fact)
    present = set(words(text))
    return bool(tokens) and sum(t in present for t in tokens) / len(tokens) >= min_overlap


def survival(facts: list[str], text: str, min_overlap: float = 1.0) -> dict[str, Any]:
    """The fact report for one rewrite."""
    kept = [fact for fact in facts if fact_kept(fact, text, min_overlap)]
    lost = [fact for fact in facts if fact not in kept]
    ratio = len(kept) / len(facts) if facts else 1.0
    summary = f"{len(kept)}/{len(facts)} facts kept"
    if lost:
        summary += "; lost: " + "; ".join(lost)
    return {
        "facts_kept": kept,
        "facts_lost": lost,
        "fact_survival": round(ratio, 4),
        "facts_summary": summary,
    }


def facts_schema(max_facts: int) -> dict[str, Any]:
    items = {"type": "string", "minLength": 3, "maxLength": 120}
    facts = {"type": "array", "items": items, "minItems": 1, "maxItems": max_facts}
    return object_schema({"facts": facts})


def parse_facts(text: str) -> list[str]:
    """Distinct non-empty facts from an extraction reply, list numbering ("2. ") removed
    ([] when it does not parse)."""
    try:
        listed = json.loads(text).get("facts") or []
    except (ValueError, AttributeError):
        return []
    cleaned = (NUMBERING.sub("", " ".join(str(fact).split())) for fact in listed)
    return list(dict.fromkeys(fact for fact in cleaned if fact))


class StyleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str = "text"
    facts_column: str | None = "facts"  # None: the model extracts the facts first
    registers: list[str] = Field(default_factory=lambda: ["a biography"], min_length=1)
    rewrites: int = Field(1, ge=1)  # per record (bioR's "multi" augmentation uses several)
    max_facts: int = Field(10, ge=1)
    min_overlap: float = Field(1.0, gt=0, le=1)  # share of a fact's key tokens that must appear
    min_survival: float = Field(0.0, ge=0, le=1)  # rewrites keeping fewer facts fail
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=8)
    extract_max_tokens: int = Field(256, ge=16)


@register("rewrite.style", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rewrite(MapStep):
    """bioR-style: rewrite into a target register keeping listed facts, and report survivors."""

    Params = StyleParams
    writes = (
        "rewritten_text",
        "register",
        "facts",
        "facts_kept",
        "facts_lost",
        "fact_survival",
        "facts_summary",
    )
    uses_llm = True

    def input_columns(self) -> set[str]:
        p = self.params
        return {p.column} | ({p.facts_column} if p.facts_column else set())

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        row_id = row[META]["id"]
        facts, requests = await self._facts(row, llm, ctx.seed(row_id, "facts"))
        records = []
        for index in range(p.rewrites):
            seed = ctx.seed(row_id, index)
            register_ = random.Random(seed).choice(p.registers)
            prompt = render(
                __file__, "rewrite_style.j2", register=register_, facts=facts, text=row[p.column]
            )
            request = chat(
                ("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens, seed=seed
            )
            rewritten = (await llm.complete(request)).text.strip()
            if not rewritten:
                raise RowError("empty_rewrite", f"rewrite {index} is empty")
            report = survival(facts, rewritten, p.min_overlap)
            if report["fact_survival"] < p.min_survival:
                raise RowError("facts_lost", f"rewrite {index}: {report['facts_summary']}")
            fields = {"rewritten_text": rewritten, "register": register_, "facts": facts, **report}
            records.append(
                self.derived(row, fields, ctx, [*requests, request], index=index, seed=seed)
            )
        return records

    async def _facts(
        self, row: dict[str, Any], llm: LLMClient, seed: int
    ) -> tuple[list[str], list[ChatRequest]]:
        """The facts to keep, and the extraction request when the model listed them."""
        p = self.params
        if p.facts_column:
            listed = row[p.facts_column] or []
            lines = listed.splitlines() if isinstance(listed, str) else listed
            facts = [str(fact).strip() for fact in lines if str(fact).strip()]
            if not facts:
                raise RowError("no_facts", f"column {p.facts_column!r} lists no facts")
            return facts, []
        request = chat(
            ("user", render(__file__, "rewrite_extract.j2", text=row[p.column])),
            temperature=0,
            max_tokens=p.extract_max_tokens,
            json_schema=facts_schema(p.max_facts),
            seed=seed,
        )
        facts = parse_facts((await llm.complete(request)).text)
        if not facts:
            raise RowError("parse_error", "the fact list did not parse")
        return facts, [request]
