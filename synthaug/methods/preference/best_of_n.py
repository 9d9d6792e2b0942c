"""Best-of-N selection (rejection sampling against a reward): of N sampled completions keep
the one a judge scores highest, or one a verifier accepts (Cobbe et al., 2021, "Training
Verifiers to Solve Math Word Problems", arXiv 2110.14168: sample many, keep the verifier's
pick; Self-Rewarding, Yuan et al., 2024, arXiv 2401.10020, supplies the judge scores).

``best_of_n.select`` makes no model call itself. ``by: judge`` takes the completions'
``score`` (``judge.pointwise``) and keeps the first highest-scored one. ``by: verifier``
checks every completion, as ``preference.verified`` does: ``math``, the answer against the
row's ``answer`` (``answer_verdict``); ``code``, the reply's first Python block run with the
row's ``tests`` in the sandbox (``run_tests``); ``auto`` (default), code when the row has
``tests``. Each completion gets its ``verification``; among the verified ones the highest
judge ``score`` wins when there is one, else the first. Record: ``response`` (the best),
``best_index``, ``n`` and, by verifier, ``verification`` (the best one's verdict, which
``synthaug verify`` re-checks) and ``verified_count``. Dropped, counted by kind:
``no_completions``, ``no_score`` (by judge: nothing scored) and ``none_verified``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ...engine.step import MapStep, StepContext
from ...records import derive
from ..common.rows import dropped
from ..registry import register
from .common import scored
from .verified import task_kind, verify

PAPER = "Cobbe et al., 2021, Training Verifiers to Solve Math Word Problems (arXiv 2110.14168): best-of-N"
TAXONOMY = "synthesis / self-improvement (best-of-N rejection sampling)"
STAGE = "instruction tuning, reasoning (SFT data)"


def best_index(candidates: list[int], scores: dict[int, float]) -> int:
    """The first candidate with the highest score (the first candidate when none is scored)."""
    if not any(i in scores for i in candidates):
        return candidates[0]
    return max(candidates, key=lambda i: (scores.get(i, float("-inf")), -i))


class SelectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: Literal["judge", "verifier"] = "judge"
    task: Literal["auto", "math", "code"] = "auto"  # what the verifier checks


@register("best_of_n.select", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Select(MapStep):
    """Best-of-N: the completion with the top judge score, or a verified one."""

    Params = SelectParams
    reads = ("completions",)

    def input_columns(self) -> set[str]:
        if self.params.by == "judge":
            return {"completions"}
        return {
            "completions",
            *{"math": {"answer"}, "code": {"tests"}, "auto": ()}[self.params.task],
        }

    def output_columns(self, input_columns: set[str]) -> set[str]:
        added = {"response", "best_index", "n"}
        if self.params.by == "verifier":
            added |= {"verification", "verified_count"}
        return input_columns | added

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        completions = row["completions"]
        if not completions:
            return [dropped(self, row, "no_completions", "the row has no completions", "none")]
        scores = dict(scored(completions, "score"))
        fields: dict[str, Any] = {"n": len(completions)}
        if self.params.by == "judge":
            if not scores:
                message = "no completion has a judge score"
                return [dropped(self, row, "no_score", message, "none")]
            best = best_index(list(range(len(completions))), scores)
        else:
            kind = task_kind(row, self.params.task)
            verdicts = await asyncio.gather(
                *(verify(kind, str(c["response"]), row, ctx.sandbox) for c in completions)
            )
            completions = [
                {**c, "verification": v} for c, v in zip(completions, verdicts, strict=True)
            ]
            verified = [i for i, v in enumerate(verdicts) if v["verified"]]
            fields |= {"completions": completions, "verified_count": len(verified)}
            if not verified:
                message = f"none of {len(completions)} completions passes the {kind} check"
                return [dropped(self, row, "none_verified", message, "none", fields)]
            best = best_index(verified, scores)
            fields["verification"] = verdicts[best]
        fields |= {"response": completions[best]["response"], "best_index": best}
        return [derive(row, fields, step=self.name, method=self.method)]
