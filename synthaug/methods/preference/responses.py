"""Multi-response generation: several completions per prompt from a pool of models
(UltraFeedback, Cui et al., 2023, arXiv 2310.01377, §2.1 "sampling").

UltraFeedback samples **4 distinct models** per prompt from a pool of 17, and puts into
each call the system prompt of a **principle** drawn per completion (helpfulness,
truthfulness, honesty, verbalized calibration), with a mix that depends on the prompt's
source. ``PAPER_MIX`` is the mix the authors' generation script
(``src/comparison_data_generation/main.py`` and ``main_vllm.py``) really draws: ShareGPT and
UltraChat pick uniformly among helpfulness x3, truthfulness and honesty; FLAN among
helpfulness x4 and verbalized calibration; Evol-Instruct always helpfulness; TruthfulQA and
FalseQA between honesty and truthfulness; any other source helpfulness; and every honesty
draw then turns into verbalized calibration one time in ten. Here the pool is a list of
*members*: a named backend of the recipe (``default`` is the recipe's ``backend:``) with its
sampling settings, so a pool can hold several models, one model at several temperatures, or
both. ``per_prompt`` members are drawn without replacement (seeded
per row); when it exceeds the pool, every member answers ``per_prompt // len(pool)`` times
and the rest are drawn.

Each completion stores the model identity (``backend.describe()``), the member's backend
name, temperature, principle and system prompt, so later steps (ratings, judges, win-rate
matrices) know who wrote what.

Faithful: the per-source principle mix, one principle per completion, distinct models per
prompt, and the sampling defaults, which are the authors' (temperature 1, top-p 1, up to
1024 new tokens, in both their transformers and vLLM scripts and for the API models).
Different: the authors draw each system prompt from about ten GPT-4-written variants per
principle; here each principle has one prompt, written for this project in their spirit.
Recipes of other methods that reuse this step set their own papers' sampling in ``pool``
(e.g. Self-Rewarding's temperature 0.7, top-p 0.9).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...engine.step import DEFAULT_BACKEND, MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META, derive
from ..registry import register

PAPER = "Cui et al., 2023, UltraFeedback (arXiv 2310.01377): completion sampling"
TAXONOMY = "synthesis / general model distillation (multi-model responses for feedback)"
STAGE = "preference alignment"

PRINCIPLE_PROMPTS = {
    "helpfulness": "You are a helpful assistant. Give an accurate, relevant and complete answer "
    "that serves the user's actual need, and keep it clear.",
    "truthfulness": "You are an assistant that only states what is true. Do not invent facts; if "
    "the question rests on a false premise, say so instead of answering it as asked.",
    "honesty": "You are an honest assistant. Say what you know, admit what you do not, and "
    "never pretend to be more certain than you are.",
    "verbalized_calibration": "You are an assistant that states its confidence. After your "
    "answer, write 'Confidence: N%' with how sure you are that the answer is right.",
}
# The principle mix by prompt source, as the authors' generation script draws it: a uniform
# pick from a list (e.g. helpfulness x3, truthfulness, honesty), then honesty becomes
# verbalized calibration with probability 0.1. Sources it does not name get helpfulness.
PAPER_MIX = {
    "evol_instruct": {"helpfulness": 1.0},
    "truthful_qa": {"honesty": 0.45, "truthfulness": 0.5, "verbalized_calibration": 0.05},
    "flan": {"helpfulness": 0.8, "verbalized_calibration": 0.2},
    "sharegpt": {
        "helpfulness": 0.6,
        "truthfulness": 0.2,
        "honesty": 0.18,
        "verbalized_calibration": 0.02,
    },
}
PAPER_MIX["false_qa"] = PAPER_MIX["truthful_qa"]
PAPER_MIX["ultrachat"] = PAPER_MIX["sharegpt"]
OTHER_SOURCES = {"helpfulness": 1.0}  # the script's fallback for a source it does not name


class Member(BaseModel):
    """One member of the model pool: a backend and how to sample it."""

    model_config = ConfigDict(extra="forbid")
    backend: str = DEFAULT_BACKEND
    temperature: float = Field(1.0, ge=0, le=2)  # the authors' scripts
    top_p: float = Field(1.0, ge=0, le=1)
    system_prompt: str | None = None  # a fixed system prompt (overrides the principle's)


class ResponsesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    pool: list[Member] = Field(default_factory=lambda: [Member()], min_length=1)
    per_prompt: int = Field(4, ge=1, le=64)  # the paper: 4 distinct models per prompt
    # none: no system prompt; paper: the mix of PAPER_MIX by source_column; or a mix
    principles: Literal["none", "paper"] | dict[str, float] = "none"
    source_column: str = "source"
    max_tokens: int = Field(1024, ge=8)  # the authors' max_new_tokens

    @field_validator("principles")
    @classmethod
    def _known_principles(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(PRINCIPLE_PROMPTS))
            if unknown or not value or min(value.values()) < 0 or sum(value.values()) <= 0:
                known = ", ".join(PRINCIPLE_PROMPTS)
                raise ValueError(f"a mix of positive weights over known principles ({known})")
        return value

    @property
    def pool_backends(self) -> list[str]:
        return [member.backend for member in self.pool]


def draw_members(pool_size: int, per_prompt: int, rng: random.Random) -> list[int]:
    """Pool indices for one prompt: distinct members while the pool allows, each member
    ``per_prompt // pool_size`` times beyond that, the remainder drawn without replacement."""
    rounds, extra = divmod(per_prompt, pool_size)
    chosen = [i for _ in range(rounds) for i in range(pool_size)]
    return chosen + rng.sample(range(pool_size), extra)


def draw_principle(mix: dict[str, float], rng: random.Random) -> str:
    names = list(mix)
    return rng.choices(names, weights=[mix[n] for n in names])[0]


@register("preference.responses", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Responses(MapStep):
    """UltraFeedback sampling: n completions per prompt from a pool of models, identity kept."""

    Params = ResponsesParams
    writes = ("completions",)
    uses_llm = True
    backend_params = ("pool_backends",)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column}

    def principle_mix(self, row: dict[str, Any]) -> dict[str, float] | None:
        principles = self.params.principles
        if principles == "none":
            return None
        if principles == "paper":
            source = str(row.get(self.params.source_column) or "").lower()
            return PAPER_MIX.get(source, OTHER_SOURCES)
        return principles

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        prompt = row[p.prompt_column]
        if not isinstance(prompt, str) or not prompt.strip():
            raise RowError("empty_prompt", f"column {p.prompt_column!r} is empty")
        rng = random.Random(ctx.seed(row[META]["id"], "pool"))
        members = draw_members(len(p.pool), p.per_prompt, rng)
        mix = self.principle_mix(row)
        principles = [draw_principle(mix, rng) if mix else None for _ in members]
        requests = [
            self.request(prompt, p.pool[m], principle, ctx.seed(row[META]["id"], "response", i))
            for i, (m, principle) in enumerate(zip(members, principles, strict=True))
        ]
        clients = [ctx.require_llm(p.pool[m].backend) for m in members]
        replies = await asyncio.gather(
            *(client.complete(r) for client, r in zip(clients, requests, strict=True))
        )
        completions = [
            {
                "model": client.backend.describe(),
                "backend": p.pool[m].backend,
                "temperature": p.pool[m].temperature,
                "principle": principle,
                "system_prompt": _system(request),
                "response": reply.text.strip(),
                "finish_reason": reply.choices[0].finish_reason,
            }
            for m, principle, client, request, reply in zip(
                members, principles, clients, requests, replies, strict=True
            )
        ]
        keys = [client.key(r) for client, r in zip(clients, requests, strict=True)]
        models = sorted({c["model"] for c in completions})
        record = derive(
            row,
            {"completions": completions},
            step=self.name,
            method=self.method,
            models=models,
            request=keys,
        )
        return [record]

    def request(self, prompt: str, member: Member, principle: str | None, seed: int) -> ChatRequest:
        system = member.system_prompt or (PRINCIPLE_PROMPTS[principle] if principle else None)
        turns = ([("system", system)] if system else []) + [("user", prompt)]
        return chat(
            *turns,
            temperature=member.temperature,
            top_p=member.top_p,
            max_tokens=self.params.max_tokens,
            seed=seed,
        )


def _system(request: ChatRequest) -> str | None:
    first = (request.messages or ({},))[0]
    return first.get("content") if first.get("role") == "system" else None
