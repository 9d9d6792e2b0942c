"""LEMA, learning from mistakes (An et al., 2023, "Learning From Mistakes Makes LLM Better
Reasoner", arXiv 2310.20689).

LEMA collects *wrong* reasoning paths that models produce on training questions, then has
a corrector model (GPT-4 in the paper) write a correction of each: (1) the incorrect step,
(2) an explanation of the mistake, (3) the correct solution from that step on. A
correction is kept only when its solution reaches the gold answer; the model is then
fine-tuned on the mistake-correction data together with the plain CoT data.

``lema.correct``: for each question the model samples ``samples`` solutions (step by step,
one step per line; temperature 0.8); the distinct wrong ones (answer check) are
corrected, up to ``max_corrections``, by the corrector (``corrector_backend``: any named
backend, by default the same model). The corrector's reply is decoded under a JSON
schema, ``{incorrect_step, explanation, corrected_solution}``, with the step number one of
the solution's steps, so a small model's reply parses. Records: ``question,
wrong_solution, mistake_step, mistake_step_number, explanation, corrected_solution`` and
``verification`` (kind ``answer``, on ``corrected_solution``).

Dropped, counted by kind in the errors file and summary: ``no_wrong_solution`` (every
sample was right: nothing to correct), ``unparseable_correction`` (the reply is not the
JSON object, e.g. cut off) and ``correction_wrong`` (the corrected solution misses the gold
answer; kept as a record with ``verification.verified`` false and ``failure`` under
``keep_failed``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META, derive
from ...verify.evidence import answer_verdict
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "An et al., 2023, Learning From Mistakes Makes LLM Better Reasoner (LEMA, arXiv 2310.20689)"
TAXONOMY = "synthesis / reasoning (mistake-correction data, answer-checked)"
STAGE = "reasoning (SFT data)"
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$])")
MAX_STEPS = 20


class CorrectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(4, ge=1, le=128)  # sampled solutions per question, to find mistakes
    temperature: float = Field(0.8, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)
    max_corrections: int = Field(4, ge=1)  # wrong solutions corrected per question
    corrector_backend: str | None = None  # a name in the recipe's backends; None: the default
    corrector_temperature: float = Field(0.0, ge=0, le=2)
    corrector_max_tokens: int = Field(768, ge=32)
    # the reply's texts are bounded by the schema, so a reply always fits corrector_max_tokens
    explanation_chars: int = Field(400, ge=20)
    solution_chars: int = Field(1000, ge=20)
    keep_failed: bool = False


def solution_steps(text: str) -> list[str]:
    """A solution's steps: its non-empty lines, or its sentences when it is one line
    (at most ``MAX_STEPS``; the rest joins the last step)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) <= 1:
        lines = [s.strip() for s in SENTENCE.split(text.strip()) if s.strip()]
    if len(lines) > MAX_STEPS:
        lines = [*lines[: MAX_STEPS - 1], " ".join(lines[MAX_STEPS - 1 :])]
    return lines or [text.strip()]


def correction_schema(
    steps: int, explanation_chars: int = 400, solution_chars: int = 1000
) -> dict[str, Any]:
    """The corrector's reply: a step number among the solution's steps and two bounded texts."""
    return object_schema(
        {
            "incorrect_step": {"type": "integer", "enum": list(range(1, steps + 1))},
            "explanation": {"type": "string", "minLength": 1, "maxLength": explanation_chars},
            "corrected_solution": {"type": "string", "minLength": 1, "maxLength": solution_chars},
        }
    )


def parse_correction(text: str, steps: int) -> dict[str, Any] | None:
    """The reply's fields, or None when it is not a usable correction."""
    reply = json_object(text)
    number = reply.get("incorrect_step")
    explanation, solution = reply.get("explanation"), reply.get("corrected_solution")
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= steps:
        return None
    if not isinstance(explanation, str) or not isinstance(solution, str):
        return None
    if not explanation.strip() or not solution.strip():
        return None
    return {
        "incorrect_step": number,
        "explanation": explanation.strip(),
        "corrected_solution": solution.strip(),
    }


@register("lema.correct", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Correct(MapStep):
    """LEMA: sample solutions, have a corrector fix the wrong ones; keep fixes that reach gold."""

    Params = CorrectParams
    reads = ("question", "answer")
    writes = (
        "wrong_solution",
        "mistake_step",
        "mistake_step_number",
        "explanation",
        "corrected_solution",
        "verification",
    )
    uses_llm = True
    backend_params = ("corrector_backend",)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, gold = self.params, str(row["answer"])
        solver = ctx.require_llm()
        sample = chat(
            ("user", render(__file__, "lema_solve.j2", question=row["question"])),
            n=p.samples,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], "solve"),
        )
        texts = [c.text.strip() for c in (await solver.complete(sample)).choices[: p.samples]]
        wrong: list[str] = []
        for text in texts:
            if text and text not in wrong and not answer_verdict(text, gold)["verified"]:
                wrong.append(text)
        if not wrong:
            return [
                dropped(self, row, "no_wrong_solution", "every sampled solution was right", "none")
            ]
        wrong = wrong[: p.max_corrections]
        results = await asyncio.gather(
            *(self.correct(row, ctx, sample, i, text) for i, text in enumerate(wrong))
        )
        return [record for group in results for record in group]

    async def correct(
        self, row: dict[str, Any], ctx: StepContext, sample: ChatRequest, i: int, wrong: str
    ) -> list[dict[str, Any]]:
        """The record (or error row) for correcting the ``i``-th wrong solution."""
        p, gold = self.params, str(row["answer"])
        corrector = ctx.require_llm(p.corrector_backend)
        steps = solution_steps(wrong)
        request = chat(
            (
                "user",
                render(__file__, "lema_correct.j2", question=row["question"], steps=steps),
            ),
            temperature=p.corrector_temperature,
            max_tokens=p.corrector_max_tokens,
            json_schema=correction_schema(len(steps), p.explanation_chars, p.solution_chars),
            seed=ctx.seed(row[META]["id"], "correct", i),
        )
        reply = (await corrector.complete(request)).text
        correction = parse_correction(reply, len(steps))
        if correction is None:
            fields = {"wrong_solution": wrong, "corrector_reply": reply}
            message = "the corrector's reply is not a complete correction object"
            return [dropped(self, row, "unparseable_correction", message, i, fields)]
        number = correction["incorrect_step"]
        verification = answer_verdict(correction["corrected_solution"], gold)
        fields = {
            "wrong_solution": wrong,
            "mistake_step": steps[number - 1],
            "mistake_step_number": number,
            "explanation": correction["explanation"],
            "corrected_solution": correction["corrected_solution"],
            "verification": verification,
        }
        if not verification["verified"]:
            if not p.keep_failed:
                message = "the corrected solution does not reach the gold answer"
                return [dropped(self, row, "correction_wrong", message, i, fields)]
            fields["failure"] = "correction_wrong"
        solver = ctx.require_llm()
        record = derive(
            row,
            fields,
            step=self.name,
            method=self.method,
            index=i,
            model=solver.backend.describe(),
            corrector_model=corrector.backend.describe(),
            request=[solver.key(sample), corrector.key(request)],
            seed=request.seed,
        )
        return [record]
