"""Explanation tuning (Orca, Mukherjee et al., 2023, arXiv 2306.02707; Orca 2, Mitra et al.,
2023, arXiv 2311.11045).

Orca answers each instruction under a *system instruction* that asks the
teacher for detailed, step-by-step explanations (Orca drew one of 16 such
messages per task); Orca 2 chooses a *reasoning strategy* per task —
step-by-step, recall-then-generate, recall-reason-generate, direct answer —
and then trains the student with the detailed instruction replaced by a
generic one ("prompt erasure"), so the student learns to pick the strategy
itself. Each record keeps the system instruction used for generation
(``system_prompt``, ``strategy``) and a training conversation (``messages``)
under ``training_system_prompt``. The strategy is drawn per row from
``strategies`` (seeded), or fixed.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import chat
from ...records import META
from ..registry import register

PAPER = (
    "Mukherjee et al., 2023, Orca (arXiv 2306.02707); Mitra et al., 2023, Orca 2 (arXiv 2311.11045)"
)
TAXONOMY = "synthesis / general model distillation (explanation tuning)"
STAGE = "instruction tuning"

STRATEGIES = {
    "step_by_step": "You are a helpful assistant. Think step by step and explain your reasoning "
    "before you give the final answer.",
    "recall_then_generate": "You are a helpful assistant. First recall the facts and knowledge "
    "relevant to the task, then write the answer using them.",
    "recall_reason_generate": "You are a helpful assistant. First recall the relevant facts, then "
    "reason over them step by step, and only then give the final answer.",
    "direct_answer": "You are a helpful assistant. Give the answer directly and concisely, "
    "without explanation.",
    "explain_like_five": "You are a helpful assistant who always provides explanations. Think "
    "as if you were answering a five-year-old.",
    "justify_steps": "You are an AI assistant. The user gives you a task. Complete it as "
    "faithfully as you can; while doing so, think step by step and justify each step.",
}
GENERIC_SYSTEM = "You are a helpful assistant."


class ExplainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategies: list[str] = Field(default_factory=lambda: list(STRATEGIES))
    system_prompts: dict[str, str] = Field(default_factory=dict)  # extra or replaced strategies
    training_system_prompt: str = GENERIC_SYSTEM  # Orca 2's prompt erasure
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(1024, ge=16)

    @model_validator(mode="after")
    def _known_strategies(self) -> ExplainParams:
        known = set(STRATEGIES) | set(self.system_prompts)
        unknown = sorted(set(self.strategies) - known)
        if unknown or not self.strategies:
            raise ValueError(
                f"unknown strategies {', '.join(unknown) or '(none)'}; known: {', '.join(sorted(known))}"
            )
        return self


@register("orca.explain", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Explain(MapStep):
    """Orca / Orca 2: answer under a system instruction asking for a reasoning strategy."""

    Params = ExplainParams
    reads = ("instruction",)
    writes = ("output", "system_prompt", "strategy", "messages")
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.prompts = {**STRATEGIES, **self.params.system_prompts}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        seed = ctx.seed(row[META]["id"])
        strategy = random.Random(seed).choice(p.strategies)
        system = self.prompts[strategy]
        request = chat(
            ("system", system),
            ("user", row["instruction"]),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=seed,
        )
        answer = (await ctx.require_llm().complete(request)).text.strip()
        if not answer:
            raise RowError("empty_response", "the model gave an empty answer")
        messages = [
            {"role": "system", "content": p.training_system_prompt},
            {"role": "user", "content": row["instruction"]},
            {"role": "assistant", "content": answer},
        ]
        fields = {
            "output": answer,
            "system_prompt": system,
            "strategy": strategy,
            "messages": messages,
        }
        return [self.derived(row, fields, ctx, [request], seed=seed)]
