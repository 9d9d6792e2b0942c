"""Safe RLHF preference data (Dai et al., 2023, "Safe RLHF: Safe Reinforcement Learning from
Human Feedback", arXiv 2310.12773; its data, PKU-SafeRLHF).

Safe RLHF **decouples** helpfulness from harmlessness: annotators compare the two responses
to a prompt twice, once for helpfulness and once for harmlessness, and give each response a
safety meta-label (BeaverTails' 14 harm categories: safe when none applies). A **reward
model** is trained on the helpfulness preferences and a **cost model** on the harmlessness
preferences plus the safety signs (s = +1 for an unsafe response, -1 for a safe one), and
the policy maximises reward under a cost constraint (Lagrangian PPO).

``safe_rlhf.compare`` compares every pair of a row's ``completions`` on both dimensions with
``judge`` (default the recipe's backend), each question in both orders, greedy, under the
grammar ``A | B`` (PKU-SafeRLHF forces a choice), with RL-CAI soft labels from the option
log-probabilities (``judge.pairwise``'s machinery). Row field ``safe_comparisons``: per pair
``a``, ``b`` and ``helpfulness`` / ``harmlessness`` comparisons (verdicts in both orders
mapped back, ``winner`` ``a``/``b`` or ``inconsistent``, ``p_a``). The safety meta-label
comes from ``safety.label`` run before (each completion's ``safety.is_safe``).

``safe_rlhf.pairs`` (no model call) writes, per comparison, the PKU-SafeRLHF fields
(``better_response_id``, ``safer_response_id``, ``is_response_0_safe``,
``is_response_1_safe``, ids 0/1 = ``a``/``b``) and two preference records: ``preference:
helpfulness`` (the reward model's pair) and ``preference: harmlessness`` (the cost model's
pair, with ``chosen_cost_sign`` / ``rejected_cost_sign``: -1 safe, +1 unsafe, None
unlabelled). A dimension whose two orders disagree gives an error row ``inconsistent``.

Different: the paper's labels are human (with a GPT-4 assisted pipeline in later versions);
here an LLM judge gives both preferences and ``safety.label`` the meta-label.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest
from ...records import META, derive
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import INDEX_COLUMNS, PAIR_COLUMNS, pair_fields, prompt_text, without
from .pairwise import both_orders, compared_pairs, pair_indices, verdict_request

PAPER = "Dai et al., 2023, Safe RLHF (arXiv 2310.12773): decoupled helpfulness/harmlessness"
TAXONOMY = "synthesis / AI feedback (separate reward and cost preferences)"
STAGE = "preference alignment (safety)"
DIMENSIONS = ("helpfulness", "harmlessness")
VERDICT_KEYS = ("verdicts", "raw_verdicts", "winner", "p_a")  # of pairwise.comparison


class CompareParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    logprobs: bool = True  # soft labels; false for backends that return none
    top_logprobs: int = Field(20, ge=2, le=20)
    judge: str = "default"


@register("safe_rlhf.compare", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Compare(MapStep):
    """Safe RLHF: compare each pair of completions for helpfulness and, separately, harmlessness."""

    Params = CompareParams
    reads = ("completions",)
    writes = ("safe_comparisons",)
    uses_llm = True
    backend_params = ("judge",)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions"}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id, completions = self.params, row[META]["id"], row["completions"]
        prompt = prompt_text(row, p.prompt_column)
        indices = pair_indices(len(completions), "all")
        if not indices:
            message = f"{len(completions)} completion(s): nothing to compare"
            return [dropped(self, row, "too_few_completions", message, "none")]
        judge = ctx.require_llm(p.judge)

        def ask(
            dimension: str, first: str, second: str, where: tuple[int, int, int]
        ) -> ChatRequest:
            template = f"safe_rlhf_{dimension}.j2"
            text = render(__file__, template, prompt=prompt, first=first, second=second)
            seed = ctx.seed(row_id, dimension, *where)
            return verdict_request(text, False, p.logprobs, p.top_logprobs, seed)

        requests = [
            r for d in DIMENSIONS for r in both_orders(completions, indices, partial(ask, d))
        ]
        replies = await asyncio.gather(*(judge.complete(r) for r in requests))
        compared = [{"a": a, "b": b, "judge_model": judge.backend.describe()} for a, b in indices]
        width = 2 * len(indices)
        for k, dimension in enumerate(DIMENSIONS):
            part = replies[k * width : (k + 1) * width]
            found = compared_pairs(completions, indices, part, judge.backend.describe())
            if isinstance(found, tuple):
                (a, b), texts = found
                message = f"a {dimension} verdict on completions {a} and {b} is not A or B"
                fields = {"judge_replies": texts}
                return [dropped(self, row, "unparseable_verdict", message, f"{a}-{b}", fields)]
            for entry, comparison in zip(compared, found, strict=True):
                entry[dimension] = {key: comparison[key] for key in VERDICT_KEYS}
        return [self.derived(row, {"safe_comparisons": compared}, ctx, requests, llm=judge)]


def cost_sign(completion: dict[str, Any]) -> int | None:
    """Safe RLHF's safety sign of a response: +1 unsafe, -1 safe, None when unlabelled."""
    safe = (completion.get("safety") or {}).get("is_safe")
    return None if safe is None else (-1 if safe else 1)


class PairsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"


@register("safe_rlhf.pairs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pairs(MapStep):
    """Safe RLHF pairs: a helpfulness (reward) pair and a harmlessness (cost) pair per comparison."""

    Params = PairsParams
    reads = ("completions", "safe_comparisons")
    writes = (
        "instruction", *PAIR_COLUMNS, *INDEX_COLUMNS, "preference", "better_response_id",
        "safer_response_id", "is_response_0_safe", "is_response_1_safe", "chosen_cost_sign",
        "rejected_cost_sign",
    )  # fmt: skip

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions", "safe_comparisons"}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"completions", "safe_comparisons"}) | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        completions = row["completions"]
        parent = without(row, "completions", "safe_comparisons")
        records = []
        for k, compared in enumerate(row["safe_comparisons"]):
            a, b = compared["a"], compared["b"]
            winners = {d: compared[d]["winner"] for d in DIMENSIONS}
            labels = {
                "better_response_id": {"a": 0, "b": 1}.get(winners["helpfulness"]),
                "safer_response_id": {"a": 0, "b": 1}.get(winners["harmlessness"]),
                "is_response_0_safe": (completions[a].get("safety") or {}).get("is_safe"),
                "is_response_1_safe": (completions[b].get("safety") or {}).get("is_safe"),
            }
            for d, dimension in enumerate(DIMENSIONS):
                index = 2 * k + d
                if winners[dimension] not in ("a", "b"):
                    message = (
                        f"{dimension} of completions {a} and {b}: {compared[dimension]['verdicts']}"
                    )
                    fields = {"preference": dimension, **labels}
                    records.append(
                        dropped(self, parent, winners[dimension], message, index, fields)
                    )
                    continue
                chosen, rejected = (a, b) if winners[dimension] == "a" else (b, a)
                fields = {
                    "instruction": row[self.params.prompt_column],
                    **pair_fields(completions[chosen], completions[rejected], None),
                    "pair_method": self.method,
                    "chosen_index": chosen,
                    "rejected_index": rejected,
                    "preference": dimension,
                    **labels,
                    "chosen_cost_sign": cost_sign(completions[chosen]),
                    "rejected_cost_sign": cost_sign(completions[rejected]),
                }
                records.append(
                    derive(parent, fields, step=self.name, method=self.method, index=index)
                )
        return records
