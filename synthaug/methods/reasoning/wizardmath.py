"""WizardMath: math Evol-Instruct and RLEIF's reward data (Luo et al., 2023, arXiv 2308.09583).

WizardMath adapts Evol-Instruct (WizardLM) to GSM8K and MATH with two evolution lines:

- **upward** evolution, from the original Evol-Instruct, makes a harder problem by adding
  constraints, concretizing, or increasing the reasoning it needs;
- **downward** evolution makes the problem easier: it revises a hard problem to a lower
  difficulty, or writes a new, easier problem on a different topic.

Its Reinforcement Learning from Evol-Instruct Feedback (RLEIF) then trains two reward models:

- the **Instruction Reward Model** (IRM) learns a ranking of evolved instructions: for each
  instruction, ChatGPT and Wizard-E each write 2-4 evolved versions and Wizard-E ranks the
  4-8 versions on definition, precision and integrity (arXiv v1; difficulty, the fourth
  aspect ranked here, is from a summary of a later version and was not checked in the paper);
- the **Process-supervised Reward Model** (PRM) learns per-step correctness labels that
  ChatGPT gives to the steps of the model's own solutions.

``wizardmath.evolve`` evolves each problem for ``rounds`` rounds, each round rewriting the
previous round's result: the direction is drawn uniformly from ``directions``, then one of
its operations. Every evolution is a record with ``question``, ``evol_direction``,
``evol_operation``, ``evol_round``, ``evol_parent`` (the problem it was rewritten from, also
``_meta.parents``) and ``seed_question``; ``answer`` and ``solution`` are cleared (the seed's
no longer apply). With ``include_seeds`` the original problem is passed on too, as WizardMath's
data keeps GSM8K and MATH beside their evolutions. An empty rewrite or a copy of its parent goes to the errors file and the
next round evolves the parent again, as Evol-Instruct's failed evolutions do.

``wizardmath.rank`` writes the IRM's ranking data: ``candidates`` sibling evolutions of each
problem (``evolved``: question, direction, operation) and ``ranking``, their positions from
best to worst. The ranking is built by repeated choice: the model names the best of the
versions not yet ranked, in a reply constrained to their numbers, until one is left, so every
ranking is a permutation.

The PRM labels are ``prm.label`` with ``mode: judge`` (the model labels each step of its own
sampled solutions; see ``reasoning/prm.py``): the built-in ``wizardmath`` recipe evolves and
then labels; ``wizardmath_irm`` ranks.

Different: the paper's evolving and ranking prompts were not released (the WizardMath folder of
``nlpxucan/WizardLM`` holds training and inference code only), so the prompts here are
written for synthaug from the paper's descriptions; one model writes every candidate where
the paper uses two (ChatGPT and Wizard-E); the ranking is the repeated choice above instead of
one listwise reply; the number of rounds (Evol-Instruct's 4), the uniform choice of direction
and the 4 candidates are ours. The reward models and the PPO stage (reward = IRM reward times
PRM reward) are not part of synthaug: these steps make their training data.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "Luo et al., 2023, WizardMath: Reinforced Evol-Instruct (arXiv 2308.09583)"
TAXONOMY = "synthesis / general model distillation (math instruction evolution, RLEIF)"
STAGE = "reasoning (SFT and reward model data)"

Direction = Literal["upward", "downward"]
OPERATIONS: dict[str, dict[str, str]] = {
    "upward": {
        "add_constraints": "Add one more constraint or requirement to the problem, so that "
        "solving it takes more work.",
        "concretize": "Replace general quantities or concepts in the problem with more "
        "specific ones, making it harder.",
        "increase_reasoning": "If the problem can be solved in a few simple steps, rewrite it "
        "so that it needs more reasoning steps.",
    },
    "downward": {
        "easier": "Revise the problem into an easier one: lower its difficulty, for example "
        "with fewer steps or simpler numbers.",
        "easier_new_topic": "Write a new problem on a different topic that is easier than "
        "this one.",
    },
}
IRM_ASPECTS = ("definition", "precision", "integrity", "difficulty")
_LABEL = re.compile(r"^\s*(?:#*\s*(?:new|rewritten)\s+problem\s*#*\s*:|problem\s*:)\s*", re.I)


def evolution(seed: int, directions: list[Direction]) -> tuple[str, str]:
    """(direction, operation) drawn for one evolution: a direction, then one of its operations."""
    rng = random.Random(seed)
    direction = rng.choice(directions)
    return direction, rng.choice(list(OPERATIONS[direction]))


def evolve_request(
    question: str, direction: str, operation: str, seed: int, p: EvolveParams | RankParams
) -> ChatRequest:
    """The evolving prompt of ``operation`` for ``question``."""
    method = OPERATIONS[direction][operation]
    return chat(
        ("user", render(__file__, "wizardmath_evolve.j2", method=method, question=question)),
        temperature=p.temperature,
        top_p=p.top_p,
        max_tokens=p.max_tokens,
        seed=seed,
    )


def clean(text: str) -> str:
    """An evolved problem without a leading "New problem:"-style label."""
    return _LABEL.sub("", text.strip(), count=1).strip()


def failure(evolved: str, parent: str) -> str | None:
    """Why an evolution failed (empty, or its parent again), or None."""
    if not evolved:
        return "empty_evolution"
    if " ".join(evolved.lower().split()) == " ".join(parent.lower().split()):
        return "unchanged"
    return None


class EvolveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rounds: int = Field(4, ge=1, le=20)  # Evol-Instruct's M = 4 (WizardMath's not found)
    directions: list[Direction] = Field(
        default_factory=lambda: ["upward", "downward"], min_length=1
    )
    temperature: float = Field(1.0, ge=0, le=2)  # Evol-Instruct's sampling
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(2048, ge=16)
    include_seeds: bool = True  # the original problem is passed on before its evolutions


@register("wizardmath.evolve", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Evolve(MapStep):
    """WizardMath: upward (harder) and downward (easier) evolution of math problems."""

    Params = EvolveParams
    reads = ("question",)
    writes = (
        "question", "answer", "solution", "evol_direction", "evol_operation", "evol_round",
        "evol_parent", "seed_question",
    )  # fmt: skip
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm, row_id = self.params, ctx.require_llm(), row[META]["id"]
        out, current = [row] if p.include_seeds else [], row
        for round_ in range(1, p.rounds + 1):
            seed = ctx.seed(row_id, round_)
            direction, operation = evolution(seed, p.directions)
            parent = str(current["question"])
            request = evolve_request(parent, direction, operation, seed, p)
            evolved = clean((await llm.complete(request)).text)
            fields = {
                "question": evolved,
                "answer": None,
                "solution": None,
                "evol_direction": direction,
                "evol_operation": operation,
                "evol_round": round_,
                "evol_parent": parent,
                "seed_question": row["question"],
            }
            if reason := failure(evolved, parent):
                out.append(dropped(self, current, reason, f"round {round_}", round_, fields))
                continue
            current = self.derived(current, fields, ctx, [request], index=round_)
            out.append(current)
        return out


class RankParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: int = Field(4, ge=2, le=16)  # paper: 2-4 from each of two evolvers
    directions: list[Direction] = Field(
        default_factory=lambda: ["upward", "downward"], min_length=1
    )
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(2048, ge=16)
    judge_max_tokens: int = Field(16, ge=8)


@register("wizardmath.rank", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rank(MapStep):
    """WizardMath IRM data: sibling evolutions ranked on definition, precision, integrity, difficulty."""

    Params = RankParams
    reads = ("question",)
    writes = ("evolved", "ranking", "irm_aspects")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm, row_id = self.params, ctx.require_llm(), row[META]["id"]
        question = str(row["question"])
        drawn = [
            evolution(ctx.seed(row_id, "candidate", n), p.directions) for n in range(p.candidates)
        ]
        requests = [
            evolve_request(question, direction, operation, ctx.seed(row_id, "candidate", n), p)
            for n, (direction, operation) in enumerate(drawn)
        ]
        replies = await asyncio.gather(*map(llm.complete, requests))
        evolved: list[dict[str, str]] = []
        for (direction, operation), reply in zip(drawn, replies, strict=True):
            text = clean(reply.text)
            if failure(text, question) or any(text == e["question"] for e in evolved):
                continue
            evolved.append({"question": text, "direction": direction, "operation": operation})
        if len(evolved) < 2:
            raise RowError("too_few_candidates", f"{len(evolved)} distinct evolutions to rank")
        ranking: list[int] = []
        remaining = list(range(len(evolved)))
        while len(remaining) > 1:
            ask = self.choice(question, evolved, remaining, ctx.seed(row_id, "rank", len(ranking)))
            requests.append(ask)
            best = json_object((await llm.complete(ask)).text).get("best")
            if not (isinstance(best, str) and best.isdigit() and int(best) - 1 in remaining):
                raise RowError(
                    "no_choice", f"the ranking reply named no remaining version: {best!r}"
                )
            ranking.append(int(best) - 1)
            remaining.remove(int(best) - 1)
        fields = {
            "evolved": evolved,
            "ranking": ranking + remaining,
            "irm_aspects": list(IRM_ASPECTS),
        }
        return [self.derived(row, fields, ctx, requests)]

    def choice(
        self, question: str, evolved: list[dict[str, str]], remaining: list[int], seed: int
    ) -> ChatRequest:
        """Ask for the best of the ``remaining`` versions (numbered by position, from 1)."""
        numbers = [str(i + 1) for i in remaining]
        shown = [(str(i + 1), evolved[i]["question"]) for i in remaining]
        return chat(
            ("user", render(__file__, "wizardmath_rank.j2", question=question, candidates=shown)),
            temperature=0.0,
            max_tokens=self.params.judge_max_tokens,
            json_schema=object_schema({"best": {"type": "string", "enum": numbers}}),
            seed=seed,
        )
