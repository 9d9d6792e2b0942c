"""BeaverTails safety meta-labels (Ji et al., 2023, arXiv 2307.04657) and safe-over-unsafe
preference pairs.

BeaverTails labels question-answer pairs, not questions alone: a QA pair is harmless only
when the response, read in the context of the prompt, falls into none of **14 harm
categories**; a response that refuses or defuses a harmful prompt is safe. Its labels come
from human annotators. ``safety.label`` has a model (``judge``, by default the recipe's
backend) label each completion of a row (or the row's ``response`` column) in one call per
response at temperature 0, decoded under a JSON schema with one boolean per category, and
sets ``is_safe`` = no category flagged: ``{"category": {<14 names>: bool}, "is_safe": bool}``.
A reply that does not parse (cut off by ``max_tokens``) makes the row an error row,
``unparseable_safety``; a row with nothing to label is ``no_response``.

``safety.pairs`` (no model) makes preference pairs among a row's labelled completions:
every safe completion chosen over every unsafe one (the safety preference of BeaverTails'
companion PKU-SafeRLHF data), with the rejected response's flagged categories kept. Rows
without both a safe and an unsafe completion are error rows, ``no_safe_unsafe_pair``.

``safety.prompts`` yields red-team prompts (``instruction``, ``category_hint``), by default
the 30 mild ones shipped in ``synthaug/data/red_team_prompts.jsonl`` (written for synthaug,
two or so per category), in file order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, SourceStep, StepContext
from ...io import read_records
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import source_record
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import INDEX_COLUMNS, PAIR_COLUMNS, ResponseLabeler, completion_pairs

PAPER = "Ji et al., 2023, BeaverTails (arXiv 2307.04657)"
TAXONOMY = "synthesis / preference alignment (safety labels, safe-over-unsafe pairs)"
STAGE = "preference alignment (safety)"
BUILTIN = "red_team_prompts"
# BeaverTails' 14 harm categories, each with a short description written for synthaug
CATEGORIES: dict[str, str] = {
    "animal_abuse": "cruelty to or harm of animals",
    "child_abuse": "physical, emotional or sexual abuse or exploitation of minors",
    "controversial_topics_politics": "one-sided or inflammatory takes on divisive political "
    "or social issues",
    "discrimination_stereotype_injustice": "unfair treatment or stereotypes based on race, "
    "gender, religion or other traits",
    "drug_abuse_weapons_banned_substance": "misuse of drugs, or making or getting weapons "
    "or banned substances",
    "financial_crime_property_crime_theft": "fraud, theft, scams, embezzlement or damage to "
    "property",
    "hate_speech_offensive_language": "hateful, demeaning or abusive language",
    "misinformation_regarding_ethics_laws_and_safety": "false or misleading claims about "
    "ethics, law or safety",
    "non_violent_unethical_behavior": "lying, cheating, manipulation or other unethical acts "
    "without violence",
    "privacy_violation": "exposing, collecting or tracking someone's personal information",
    "self_harm": "encouraging or instructing self-injury or suicide",
    "sexually_explicit_adult_content": "explicit sexual content",
    "terrorism_organized_crime": "planning, supporting or glorifying terrorism or organized crime",
    "violence_aiding_and_abetting_incitement": "inciting, threatening or helping carry out "
    "violence",
}


def safety_schema() -> dict[str, Any]:
    """One boolean per harm category, in BeaverTails' order."""
    return object_schema({name: {"type": "boolean"} for name in CATEGORIES})


def parse_safety(text: str) -> dict[str, Any] | None:
    """``{"category": {name: bool}, "is_safe": bool}`` of a reply, or None when incomplete."""
    reply = json_object(text)
    flags = {name: reply.get(name) for name in CATEGORIES}
    if not all(isinstance(flag, bool) for flag in flags.values()):
        return None
    return {"category": flags, "is_safe": not any(flags.values())}


class LabelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    response_column: str = "response"  # used when a row has no completions
    judge: str | None = None  # a name in the recipe's backends; None: the default
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(320, ge=64)  # the 14 names and values take about 200 tokens


@register("safety.label", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Label(ResponseLabeler):
    """BeaverTails: flag each (prompt, response) pair in 14 harm categories; safe = none flagged."""

    Params = LabelParams
    label_key = "safety"
    seed_tag = "label"

    def parse_label(self, text: str) -> dict[str, Any] | None:
        return parse_safety(text)

    def request(self, prompt: str, response: str, seed: int) -> ChatRequest:
        text = render(
            __file__,
            "safety_label.j2",
            categories=list(CATEGORIES.items()),
            prompt=prompt,
            response=response,
        )
        return chat(
            ("user", text),
            temperature=self.params.temperature,
            max_tokens=self.params.max_tokens,
            json_schema=safety_schema(),
            seed=seed,
        )


def flagged(label: dict[str, Any]) -> dict[str, Any]:
    """The rejected completion's flagged harm categories."""
    return {"rejected_categories": [name for name, flag in label["category"].items() if flag]}


@register("safety.pairs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pairs(MapStep):
    """Safety preference pairs: every safe completion chosen over every unsafe one."""

    reads = ("completions",)
    writes = (*PAIR_COLUMNS, *INDEX_COLUMNS, "rejected_categories")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"completions"}) | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        completions = row["completions"]
        labels = [c.get("safety") or {} for c in completions]
        safe = [i for i, label in enumerate(labels) if label.get("is_safe") is True]
        unsafe = [i for i, label in enumerate(labels) if label.get("is_safe") is False]
        if not safe or not unsafe:
            message = f"{len(safe)} safe and {len(unsafe)} unsafe completions: no pair"
            return [dropped(self, row, "no_safe_unsafe_pair", message, "none")]
        pairs = [(a, b) for a in safe for b in unsafe]
        return completion_pairs(self, row, pairs, None, lambda a, b: flagged(labels[b]))


class PromptsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # default: the 30 built-in red-team prompts
    count: int | None = Field(None, ge=1)


def load_prompts(path: str | None, count: int | None = None) -> list[dict[str, Any]]:
    """Red-team prompts (``instruction`` and, when known, ``category_hint``), in file order."""
    source = path or str(resources.files("synthaug") / "data" / f"{BUILTIN}.jsonl")
    rows = list(read_records(source, required=["instruction"]))
    return rows[:count] if count is not None else rows


@register("safety.prompts", taxonomy="I/O (red-team prompts)", stage=STAGE, paper=PAPER)
class Prompts(SourceStep):
    """Red-team prompts (default: 30 built-in mild ones covering the 14 harm categories)."""

    Params = PromptsParams
    writes = ("instruction", "category_hint")

    def expected_rows(self) -> int | None:
        return len(load_prompts(self.params.path, self.params.count))

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or BUILTIN
        for index, row in enumerate(load_prompts(self.params.path, self.params.count)):
            row.setdefault("category_hint", None)
            yield source_record(row, source=source, index=index)
