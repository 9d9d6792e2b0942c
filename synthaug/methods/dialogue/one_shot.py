"""One-shot task-oriented dialogue generation with annotations, checked against the goal.

Labruna, Brenna, Zaninello and Magnini, 2023, "Unraveling ChatGPT: A Critical Analysis of
AI-Generated Goal-Oriented Dialogues and Annotations" (arXiv 2305.14556). In the paper's
one-shot mode the model is given a user goal and one example dialogue with its annotation and
writes a whole new dialogue, annotation included, in one reply (the interactive mode, a turn
per request, is not built here). Steps:

1. ``task_dialogue.goals`` — user goals ``{domain: {"inform": {slot: value}, "request":
   [slots]}}`` sampled from a MultiWOZ-style ontology (1 to ``max_domains`` domains, 1 to
   ``max_inform`` search constraints per domain, booking slots with ``book_probability``,
   one or two requested slots).
2. ``task_dialogue.one_shot`` — the prompt: instructions, the slots the annotation may use,
   ONE example goal and its annotated dialogue (the shipped example sharing most domains with
   the goal), the goal; the reply is JSON ``{"turns": [{"speaker", "text", "belief_state"}]}``
   decoded under a JSON schema (``constrain``: the shape only, as the paper's unconstrained
   ChatGPT, whose annotation the check then filters; or also the belief state's domains and
   slots from the ontology; or also the values). A reply that is not such a dialogue is an
   error row (``malformed_output``, ``malformed_turn``, ``malformed_annotation``).
3. ``task_dialogue.check`` — the final belief state (the turns' states accumulated) must hold
   every goal constraint with the goal's value (normalised: case, spacing, punctuation, the
   ontology's aliases) and no slot outside its domain's ontology; a failure is an error row
   (``goal_mismatch``) naming each problem. A kept row carries ``dialogue_state`` evidence
   that ``synthaug verify`` re-checks from the record alone, and ``messages`` (user turns as
   ``user``, system turns as ``assistant``).

What differs: the paper prompts ChatGPT with MultiWOZ goals and a MultiWOZ example dialogue
and judges the results by human evaluation; MultiWOZ (MIT) ships in no registry package here,
so the ontology (five MultiWOZ domains, a subset of their slots, invented values) and the three
example dialogues are written for synthaug, and the automatic goal check stands in for the
paper's human annotation assessment. The paper's prompt text was not found (searched: its
arXiv page, code and pages corpora); this module's prompt is written for synthaug. The belief
state merges MultiWOZ's ``semi`` and ``book`` slots into one mapping per domain and annotates
every turn (MultiWOZ annotates system turns).
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError
from ...llm.types import chat, object_schema
from ...records import META, derive, source_record
from ...verify.evidence import dialogue_state_verdict
from ..common.parsing import json_reply
from ..registry import register
from ..templates import render
from .ontology import Ontology, closest_example, load_examples, load_ontology, sample_goal

PAPER = (
    "Labruna et al., 2023, Unraveling ChatGPT: A Critical Analysis of AI-Generated "
    "Goal-Oriented Dialogues and Annotations (arXiv 2305.14556)"
)
TAXONOMY = "synthesis / task-oriented dialogue (goal-conditioned, annotated)"
STAGE = "instruction tuning (dialogue)"
SPEAKERS = ("user", "system")


class GoalsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(20, ge=1, description="goals (one dialogue each)")
    ontology: str | None = Field(None, description="ontology JSON (default: the shipped one)")
    domains: list[str] | None = Field(None, description="domains to sample from; None: all")
    max_domains: int = Field(2, ge=1)
    max_inform: int = Field(3, ge=1, description="search constraints per domain, at most")
    book_probability: float = Field(0.5, ge=0, le=1)


@register("task_dialogue.goals", taxonomy="task dialogue (user goals)", stage=STAGE, paper=PAPER)
class Goals(SourceStep):
    """User goals sampled from a MultiWOZ-style ontology."""

    Params = GoalsParams
    writes = ("goal",)

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.ontology = load_ontology(self.params.ontology)
        self.domains = self.params.domains or list(self.ontology.informable)
        unknown = sorted(set(self.domains) - set(self.ontology.informable))
        if unknown:
            raise InputError("domains", f"not in the ontology: {', '.join(unknown)}")

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        for index in range(p.count):
            rng = random.Random(ctx.seed(index))
            goal = sample_goal(self.ontology, rng, self.domains, p.max_domains, p.max_inform,
                               p.book_probability)  # fmt: skip
            yield source_record({"goal": goal}, source=self.name, index=index)


def goal_text(goal: dict[str, Any]) -> str:
    """One line per domain: its constraints and the items to ask for."""
    lines = []
    for domain, parts in goal.items():
        inform = ", ".join(f"{slot} = {value}" for slot, value in parts["inform"].items())
        lines.append(f"- {domain}: {inform}; ask for: {', '.join(parts['request'])}")
    return "\n".join(lines)


def reply_schema(
    goal: dict[str, Any], ontology: Ontology, constrain: str, max_turns: int, max_chars: int
) -> dict[str, Any]:
    """The JSON schema of a reply: 2 to ``max_turns`` turns, each annotated."""
    if constrain == "shape":
        strings = {"type": "object", "additionalProperties": {"type": "string"}}
        state: dict[str, Any] = {"type": "object", "additionalProperties": strings}
    else:

        def value(domain: str, slot: str) -> dict[str, Any]:
            if constrain == "values":
                return {"enum": ontology.informable[domain][slot]}
            return {"type": "string", "maxLength": 60}

        state = {"type": "object", "additionalProperties": False, "properties": {
            d: {"type": "object", "additionalProperties": False,
                "properties": {s: value(d, s) for s in ontology.informable[d]}}
            for d in goal
        }}  # fmt: skip
    turn = object_schema({
        "speaker": {"enum": list(SPEAKERS)},
        "text": {"type": "string", "minLength": 1, "maxLength": max_chars},
        "belief_state": state,
    })  # fmt: skip
    return object_schema(
        {"turns": {"type": "array", "items": turn, "minItems": 2, "maxItems": max_turns}}
    )


def parse_dialogue(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The reply's turns; ``RowError`` naming the first turn that is not a turn."""
    turns = answer.get("turns")
    if not isinstance(turns, list) or not turns:
        raise RowError("malformed_output", f"no list of turns: {json.dumps(answer)[:200]}")
    parsed = []
    for number, turn in enumerate(turns, 1):
        if not isinstance(turn, dict) or turn.get("speaker") not in SPEAKERS:
            raise RowError("malformed_turn", f"turn {number} has no speaker user/system: "
                           f"{json.dumps(turn)[:160]}")  # fmt: skip
        text = turn.get("text")
        if not isinstance(text, str) or not text.strip():
            raise RowError("malformed_turn", f"turn {number} has no text")
        state = turn.get("belief_state", {})
        if not isinstance(state, dict) or not all(
            isinstance(slots, dict)
            and all(isinstance(v, str | int | float) for v in slots.values())
            for slots in state.values()
        ):
            raise RowError("malformed_annotation", f"turn {number}: the belief state is not "
                           f"{{domain: {{slot: value}}}}: {json.dumps(state)[:160]}")  # fmt: skip
        state = {d: {s: str(v) for s, v in slots.items()} for d, slots in state.items()}
        parsed.append({"speaker": turn["speaker"], "text": text.strip(), "belief_state": state})
    return parsed


class OneShotParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ontology: str | None = Field(None, description="ontology JSON (default: the shipped one)")
    examples: str | None = Field(None, description="annotated example dialogues (JSONL)")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(1536, ge=64)
    max_turns: int = Field(12, ge=2)
    max_text_chars: int = Field(300, ge=20)
    constrain: Literal["shape", "ontology", "values"] = Field(
        "shape",
        description="what decoding enforces: the dialogue's JSON shape only (the paper's "
        "setting; the check filters), also the belief state's domains and slots, or also "
        "their values from the ontology",
    )


@register("task_dialogue.one_shot", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class OneShot(MapStep):
    """A whole annotated dialogue for a user goal from one example dialogue (one reply)."""

    Params = OneShotParams
    reads = ("goal",)
    writes = ("dialogue",)
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.ontology = load_ontology(self.params.ontology)
        self.examples = load_examples(self.params.examples)

    def request(self, row: dict[str, Any], seed: int):
        p, goal = self.params, row["goal"]
        example = closest_example(self.examples, goal, random.Random(seed))
        prompt = render(
            __file__, "one_shot_generate.j2",
            ontology={d: list(self.ontology.informable[d]) for d in goal if d in self.ontology.informable},
            example_goal=goal_text(example["goal"]), goal_text=goal_text(goal),
            example_dialogue=json.dumps({"turns": example["turns"]}),
        )  # fmt: skip
        schema = reply_schema(goal, self.ontology, p.constrain, p.max_turns, p.max_text_chars)
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=schema, seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row, seed)
        completion = await ctx.require_llm().complete(request)
        answer = json_reply(completion)
        turns = parse_dialogue(answer)
        return [self.derived(row, {"dialogue": turns}, ctx, [request], seed=seed)]


class CheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ontology: str | None = Field(None, description="ontology JSON (default: the shipped one)")


@register("task_dialogue.check", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Check(MapStep):
    """The final belief state holds the goal's constraints, and only ontology slots."""

    Params = CheckParams
    reads = ("goal", "dialogue")
    writes = ("belief_state", "verification", "messages")

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.ontology = load_ontology(self.params.ontology)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        evidence = dialogue_state_verdict(
            row["goal"], row["dialogue"], self.ontology.slots(), self.ontology.aliases
        )
        if not evidence["verified"]:
            raise RowError("goal_mismatch", "; ".join(evidence["problems"])[:500])
        messages = [{"role": "user" if t["speaker"] == "user" else "assistant", "content": t["text"]}
                    for t in row["dialogue"]]  # fmt: skip
        fields = {"belief_state": evidence["belief_state"], "verification": evidence,
                  "messages": messages}  # fmt: skip
        return [derive(row, fields, step=self.name, method=self.method)]
