"""Process-reward step labels: Math-Shepherd (Wang et al., 2023, arXiv 2312.08935).

A solution is split into steps ("Step k:" markers when it has them, else its lines; a
bare final-answer line such as "#### 42" or "The answer is 42" joins the step before
it). For each step, Math-Shepherd samples ``completions`` continuations (N = 8 in the
paper) of the solution prefix that ends with that step and checks each continuation's
final answer against the gold answer (``check_answer``). The last step needs no
rollout: its prefix is the whole solution, which is checked itself.

- ``rule: hard`` (the paper's HE): a step is 1 when any continuation reaches gold, else 0.
- ``rule: soft`` (SE): the fraction of continuations that reach gold (4 decimals).

(``synthaug.verify.evidence.step_label`` computes both, here and when a record is re-checked.)

``ratings`` maps the labels onto PRM800K's scale {+1 positive, 0 neutral, -1 negative}:
hard 1 -> +1 and 0 -> -1; soft 1.0 -> +1, 0.0 -> -1 and any fraction in between -> 0
(some continuations succeed, some fail: the step is neither clearly right nor wrong).

``verification`` (kind ``step_labels``) carries every rollout (``text``, ``extracted``,
``match``) so the labels can be recomputed from the record.

``mode: judge`` labels steps with the model instead (no rollouts): one request per step,
decoded under a JSON schema whose ``label`` is one of ``positive``/``neutral``/
``negative``; ``ratings`` are those labels on the PRM800K scale, ``labels`` the labels
themselves. Judge labels are the model's opinion, not a check, so these records carry no
``verification``.

The solutions labelled are the problem's own ``solution`` (``gold``), ``samples``
solutions sampled from the model (``sampled``, the paper's setting) or both.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META
from ...verify.evidence import step_label, verdict
from ...verify.math_answer import check_answer
from ..common.sampling import sample
from ..registry import register
from ..templates import render

PAPER = "Wang et al., 2023, Math-Shepherd (arXiv 2312.08935); PRM800K label scale"
TAXONOMY = "augmentation / data labeling (process supervision)"
STAGE = "reasoning (process reward model data)"
JUDGE_LABELS = {"positive": 1, "neutral": 0, "negative": -1}
JUDGE_SCHEMA = object_schema({"label": {"type": "string", "enum": list(JUDGE_LABELS)}})

_STEP_MARK = re.compile(r"^[ \t]*(?:\*\*)?Step[ \t]*\d+[ \t]*(?:\*\*)?[ \t]*[:.)]", re.I | re.M)
_ANSWER_LINE = re.compile(r"^\s*(?:####|(?:So,?\s+)?the (?:final )?answer is\b)", re.I)


def split_steps(solution: str) -> list[str]:
    """The steps of ``solution``: "Step k:" chunks, else non-empty lines; a final-answer-only
    line is joined to the step before it."""
    text = solution.strip()
    marks = [m.start() for m in _STEP_MARK.finditer(text)]
    if marks:
        bounds = [*marks[1:], len(text)]
        chunks = [text[start:end].strip() for start, end in zip(marks, bounds, strict=True)]
        if preamble := text[: marks[0]].strip():
            chunks[0] = f"{preamble}\n{chunks[0]}"
    else:
        chunks = [line.strip() for line in text.splitlines() if line.strip()]
    steps: list[str] = []
    for chunk in chunks:
        if steps and _ANSWER_LINE.match(chunk):
            steps[-1] = f"{steps[-1]}\n{chunk}"
        else:
            steps.append(chunk)
    return steps


def prm800k_rating(label: float, rule: str) -> int:
    """A Math-Shepherd label on PRM800K's {+1, 0, -1} scale (see the module docstring)."""
    if rule == "hard":
        return 1 if label else -1
    return 1 if label >= 1 else -1 if label <= 0 else 0


def rollout(text: str, gold: str) -> dict[str, Any]:
    """One checked continuation, as stored in the evidence."""
    check = check_answer(text, gold)
    return {"text": text, "extracted": check["extracted"], "match": bool(check["match"])}


class LabelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["rollout", "judge"] = "rollout"
    rule: Literal["hard", "soft"] = "hard"
    solutions: Literal["gold", "sampled", "both"] = "sampled"
    samples: int = Field(15, ge=1, le=128)  # sampled solutions per problem (paper: 15 [R])
    completions: int = Field(8, ge=1, le=128)  # rollouts per step (paper: N = 8)
    temperature: float = Field(0.7, ge=0, le=2)  # sampled solutions and rollouts
    max_tokens: int = Field(512, ge=16)
    max_steps: int | None = Field(None, ge=1)  # skip solutions with more steps than this
    judge_temperature: float = Field(0.0, ge=0, le=2)
    judge_max_tokens: int = Field(32, ge=8)


@register("prm.label", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Label(MapStep):
    """Math-Shepherd step labels from rollouts to the gold answer (or a per-step LLM judge)."""

    Params = LabelParams
    reads = ("question", "answer")
    writes = ("solution", "solution_source", "steps", "labels", "ratings", "label_rule")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        row_id = row[META]["id"]
        if p.mode == "rollout" and row.get("answer") is None:  # e.g. an evolved problem
            raise RowError("no_gold", "rollout labels need a gold answer (mode: judge does not)")
        candidates: list[tuple[str, str, list[ChatRequest]]] = []
        if p.solutions in ("gold", "both") and row.get("solution"):
            candidates.append(("gold", str(row["solution"]), []))
        if p.solutions in ("sampled", "both"):
            request = chat(
                ("user", render(__file__, "prm_solve.j2", question=row["question"])),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                seed=ctx.seed(row_id, "solve"),
                n=p.samples,
            )
            choices, sent = await sample(ctx.require_llm(), request)
            candidates += [("sampled", c.text.strip(), sent) for c in choices]
        if not candidates:
            raise RowError("no_solution", "the row has no solution to label (solutions: gold)")
        labelled = await asyncio.gather(
            *(self.label(row, ctx, s, *candidate) for s, candidate in enumerate(candidates))
        )
        return [record for record in labelled if record is not None]

    async def label(
        self,
        row: dict[str, Any],
        ctx: StepContext,
        number: int,
        source: str,
        solution: str,
        requests: list[ChatRequest],
    ) -> dict[str, Any] | None:
        p = self.params
        steps = split_steps(solution)
        if not steps or (p.max_steps and len(steps) > p.max_steps):
            return None
        if p.mode == "judge":
            return await self.judged(row, ctx, number, source, solution, steps, requests)
        gold = str(row["answer"])
        rollouts = await asyncio.gather(
            *(self.rollouts(row, ctx, number, steps, k) for k in range(len(steps) - 1))
        )
        evidence = [checked for checked, _ in rollouts] + [[rollout(solution, gold)]]
        requests = requests + [request for _, sent in rollouts for request in sent]
        labels = [step_label([r["match"] for r in checked], p.rule) for checked in evidence]
        fields = {
            "solution": solution,
            "solution_source": source,
            "steps": steps,
            "labels": labels,
            "ratings": [prm800k_rating(label, p.rule) for label in labels],
            "label_rule": p.rule,
            "verification": verdict(
                "step_labels",
                True,
                gold=gold,
                rule=p.rule,
                steps=[
                    {"label": label, "rollouts": checked}
                    for label, checked in zip(labels, evidence, strict=True)
                ],
            ),
        }
        return self.derived(row, fields, ctx, requests, index=number)

    async def rollouts(
        self, row: dict[str, Any], ctx: StepContext, number: int, steps: list[str], k: int
    ) -> tuple[list[dict[str, Any]], list[ChatRequest]]:
        """``completions`` continuations of the solution up to step ``k``, checked."""
        p = self.params
        prefix = "\n".join(steps[: k + 1])
        request = chat(
            ("user", render(__file__, "prm_complete.j2", question=row["question"], prefix=prefix)),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], "rollout", number, k),
            n=p.completions,
        )
        choices, sent = await sample(ctx.require_llm(), request)
        gold = str(row["answer"])
        return [rollout(c.text.strip(), gold) for c in choices], sent

    async def judged(
        self,
        row: dict[str, Any],
        ctx: StepContext,
        number: int,
        source: str,
        solution: str,
        steps: list[str],
        requests: list[ChatRequest],
    ) -> dict[str, Any]:
        p = self.params
        asks = [
            chat(
                (
                    "user",
                    render(
                        __file__,
                        "prm_judge.j2",
                        question=row["question"],
                        previous="\n".join(steps[:k]),
                        step=steps[k],
                    ),
                ),
                temperature=p.judge_temperature,
                max_tokens=p.judge_max_tokens,
                json_schema=JUDGE_SCHEMA,
                seed=ctx.seed(row[META]["id"], "judge", number, k),
            )
            for k in range(len(steps))
        ]
        replies = await asyncio.gather(*(ctx.require_llm().complete(ask) for ask in asks))
        labels = [json_object(reply.text).get("label") for reply in replies]
        labels = [lab if isinstance(lab, str) and lab in JUDGE_LABELS else None for lab in labels]
        fields = {
            "solution": solution,
            "solution_source": source,
            "steps": steps,
            "labels": labels,
            "ratings": [None if label is None else JUDGE_LABELS[label] for label in labels],
            "label_rule": "judge",
        }
        return self.derived(row, fields, ctx, requests + asks, index=number)
