"""Persona Hub (Ge et al., 2024, "Scaling Synthetic Data Creation with 1,000,000,000
Personas", arXiv 2406.20094).

Personas make synthetic data diverse: the same task prompt, written from the
point of view of many different personas, yields many different data.

1. ``persona_hub.text_to_persona``: for each text (any columns of a row), ask
   who is likely to read, write, like or dislike it, as one specific persona.
2. ``persona_hub.expand``: persona-to-persona — ask who is in a close
   relationship with the persona (a patient and their caregiver), then with
   that one, hop by hop (paper: 6 iterations, "six degrees of separation").
   Every hop is a record whose ``_meta.parents`` is the previous hop; a hop
   whose reply is unusable ends the chain (``persona_stopped`` on the last
   record). Each hop's request carries a per-row seed, so a resumed run
   replays the chain from the request cache without a model call.
3. Deduplication, in the paper's two passes, by steps of the recipe:
   ``dedup_near`` with the paper's MinHash settings (1-grams, 128
   permutations, threshold 0.9), then ``dedup_semantic`` removing personas
   whose embeddings have cosine similarity > 0.9 (``epsilon: 0.1``; one
   cluster, so every pair is compared; the earliest persona of a group
   stays). Differs: the embedder is the bundled MiniLM (or any endpoint), not
   text-embedding-3-small, and the paper does not say which persona of a
   similar pair it keeps.
4. ``persona_hub.synthesize``: the persona fills the ``{persona}`` slot of a
   task prompt — ``math`` (a hard problem starting "Math problem:", no
   solution, at most 2 sub-problems), ``instruction`` ("User prompt:"),
   ``knowledge`` (a Quora-style article starting "Title:"), ``npc`` (a World
   of Warcraft NPC starting "Name:"; the repository's long lore preamble is
   condensed to one paragraph) and ``tools`` (a function interface: name,
   description, function name, inputs, return, dependencies — the fields of
   the released tool data, decoded under a JSON schema). The prefix is parsed
   off and ``prefix_present`` records whether the model wrote it. Sampling
   follows the repository's synthesis script: a generic system prompt,
   temperature 0.7.

Persona creation and expansion decode a small JSON object (the relation and
the persona) so that even a tiny model returns one persona and stops.
Records carry ``persona``, ``persona_source`` (``text`` or ``persona``),
``persona_parent`` (the persona it was expanded from), ``persona_hop`` (0 for
text-to-persona), ``persona_relation``, and after synthesis ``target``,
``synthesized_text`` and ``prefix_present``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...curate.text import row_text
from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ..registry import register
from ..templates import render

PAPER = "Ge et al., 2024, Persona Hub (arXiv 2406.20094)"
TAXONOMY = "synthesis / general model distillation (persona-driven)"
STAGE = "instruction tuning"
SYSTEM = "You are a helpful assistant."
TEXT_RELATIONS = ["reader", "writer", "fan", "critic"]
Target = Literal["math", "instruction", "knowledge", "npc", "tools"]
PREFIXES: dict[str, str | None] = {
    "math": "Math problem:",
    "instruction": "User prompt:",
    "knowledge": "Title:",
    "npc": "Name:",
    "tools": None,
}
TOOL_FIELDS = ["name", "description", "function_name", "input_args", "return", "depend"]


def persona_schema(relation: dict[str, Any]) -> dict[str, Any]:
    """The relation first, then the persona: the order the prompts ask for them."""
    return {
        "type": "object",
        "properties": {
            "relation": relation,
            "persona": {"type": "string", "maxLength": 400},
        },
        "required": ["relation", "persona"],
        "additionalProperties": False,
    }


TEXT_PERSONA_SCHEMA = persona_schema({"type": "string", "enum": TEXT_RELATIONS})
RELATED_PERSONA_SCHEMA = persona_schema({"type": "string", "maxLength": 60})
TOOL_LENGTHS = {"name": 80, "description": 400, "function_name": 60}
TOOL_SCHEMA = {
    "type": "object",
    "properties": {
        field: {"type": "string", "maxLength": TOOL_LENGTHS.get(field, 200)}
        for field in TOOL_FIELDS
    },
    "required": TOOL_FIELDS,
    "additionalProperties": False,
}


class _SamplingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)

    def request(self, prompt: str, seed: int, **options: Any) -> ChatRequest:
        return chat(
            ("system", SYSTEM),
            ("user", prompt),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=seed,
            **options,
        )


class TextToPersonaParams(_SamplingParams):
    columns: list[str] = Field(default_factory=lambda: ["text"], min_length=1)


class ExpandParams(_SamplingParams):
    iterations: int = Field(6, ge=1, le=20)
    include_input: bool = True


class SynthesizeParams(_SamplingParams):
    target: Target = "math"
    max_tokens: int = Field(1024, ge=16)


def parse_persona(text: str) -> tuple[str, str] | None:
    """``(relation, persona)`` from a persona reply, or None when it is unusable."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    persona = " ".join(str(data.get("persona", "")).split())
    return (str(data.get("relation", "")).strip(), persona) if persona else None


def strip_prefix(text: str, prefix: str | None) -> tuple[str, bool | None]:
    """The text without its required prefix (markdown emphasis or a quote before it
    tolerated), and whether it was there (None when the target has no prefix)."""
    text = text.strip()
    if prefix is None:
        return text, None
    bare = text.lstrip("*#_\"' ")
    if bare.lower().startswith(prefix.lower()):
        return bare[len(prefix) :].lstrip("*_ ").strip(), True
    return text, False


def parse_tool(text: str) -> str | None:
    """A tool reply as normalised JSON, or None when it is not a complete interface."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not str(data.get("function_name", "")).strip():
        return None
    return json.dumps({field: data.get(field, "") for field in TOOL_FIELDS}, ensure_ascii=False)


@register("persona_hub.text_to_persona", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class TextToPersona(MapStep):
    """Persona Hub: who would read, write, like or dislike this text — one specific persona."""

    Params = TextToPersonaParams
    writes = ("persona", "persona_source", "persona_parent", "persona_hop", "persona_relation")
    uses_llm = True

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        text = row_text(row, self.params.columns).strip()
        if not text:
            raise RowError("empty_text", f"no text in {', '.join(self.params.columns)}")
        seed = ctx.seed(row[META]["id"])
        prompt = render(__file__, "persona_text_to_persona.j2", text=text)
        request = self.params.request(prompt, seed, json_schema=TEXT_PERSONA_SCHEMA)
        parsed = parse_persona((await ctx.require_llm().complete(request)).text)
        if parsed is None:
            raise RowError("unusable_persona", "the reply holds no persona")
        relation, persona = parsed
        fields = persona_fields(persona, "text", None, 0, relation)
        return [self.derived(row, fields, ctx, [request], seed=seed)]


@register("persona_hub.expand", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Expand(MapStep):
    """Persona Hub: persona-to-persona expansion through close relationships, hop by hop."""

    Params = ExpandParams
    reads = ("persona",)
    writes = ("persona", "persona_source", "persona_parent", "persona_hop", "persona_relation")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        records = [row] if p.include_input else []
        current, start = row, int(row.get("persona_hop") or 0)
        for hop in range(start + 1, start + p.iterations + 1):
            seed = ctx.seed(row[META]["id"], hop)
            prompt = render(__file__, "persona_to_persona.j2", persona=current["persona"])
            request = p.request(prompt, seed, json_schema=RELATED_PERSONA_SCHEMA)
            parsed = parse_persona((await llm.complete(request)).text)
            stop = expansion_problem(parsed, current["persona"])
            if stop is not None:
                if records:
                    records[-1] = {**records[-1], "persona_stopped": f"hop {hop}: {stop}"}
                break
            relation, persona = parsed  # type: ignore[misc]
            fields = persona_fields(persona, "persona", current["persona"], hop, relation)
            current = self.derived(current, fields, ctx, [request], seed=seed)
            records.append(current)
        return records


def expansion_problem(parsed: tuple[str, str] | None, parent: str) -> str | None:
    """Why a hop's reply cannot continue the chain, or None."""
    if parsed is None:
        return "unusable_persona"
    if parsed[1].lower() == " ".join(parent.split()).lower():
        return "same_persona"
    return None


def persona_fields(
    persona: str, source: str, parent: str | None, hop: int, relation: str
) -> dict[str, Any]:
    return {
        "persona": persona,
        "persona_source": source,
        "persona_parent": parent,
        "persona_hop": hop,
        "persona_relation": relation,
    }


@register("persona_hub.synthesize", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Synthesize(MapStep):
    """Persona Hub: a persona-driven prompt for a target (math, instruction, knowledge, npc, tools)."""

    Params = SynthesizeParams
    reads = ("persona",)
    writes = ("target", "synthesized_text", "prefix_present")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        seed = ctx.seed(row[META]["id"], p.target)
        prompt = render(__file__, f"persona_{p.target}.j2", persona=row["persona"])
        options = {"json_schema": TOOL_SCHEMA} if p.target == "tools" else {}
        request = p.request(prompt, seed, **options)
        reply = (await ctx.require_llm().complete(request)).text
        text, present = synthesized(reply, p.target)
        fields = {"target": p.target, "synthesized_text": text, "prefix_present": present}
        return [self.derived(row, fields, ctx, [request], seed=seed)]


def synthesized(reply: str, target: str) -> tuple[str, bool | None]:
    """The synthesized text and whether its prefix was there; ``RowError`` when unusable."""
    if target == "tools":
        tool = parse_tool(reply)
        if tool is None:
            raise RowError("unusable_tool", "the reply is not a complete function interface")
        return tool, None
    text, present = strip_prefix(reply, PREFIXES[target])
    if not text:
        raise RowError("empty_output", "the model wrote nothing after the prefix")
    return text, present
