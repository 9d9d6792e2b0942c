"""GAIR-Abel's Parental Oversight SFT data (Chern et al., 2023, "Generative AI for Math: Abel",
github.com/GAIR-NLP/abel).

Abel reaches its GSM8K and MATH results with supervised fine-tuning only (no tools, no reward
model, no RLHF). Its authors describe the data philosophy behind it, **Parental Oversight**,
rather than a pipeline: fine-tuning data should be chosen and processed with care, as parents
choose how to teach; quality and relevance outweigh quantity; a training sample should not
only present the right answer but show how it is derived from what the model knows; and
where the model's knowledge falls short, the data should supply it. No data-processing code
or prompts were released (the repository holds evaluation code and model outputs).

``abel.oversee`` turns that philosophy into a critique-and-polish loop over problems with gold
answers (``question``, ``answer``):

1. **write**: a solution following ``PRINCIPLES`` (step by step, each step justified and
   computed, needed facts stated, one consistent format ending "The answer is N"). With
   ``source: gold`` the problem's own ``solution`` is rewritten under the principles (curating
   an existing annotation); with ``source: sampled`` the model writes ``samples`` solutions;
2. **critique**: a critic, shown the gold answer, checks the solution against the principles
   and the answer and lists its problems;
3. **polish**: the solution is rewritten to fix what the critique names.

Only polished solutions whose stated final answer equals the gold answer are kept
(``verification`` of kind ``answer``, with ``last_number: false``: the answer must be stated as
such); the others go to the errors file as ``answer_mismatch`` or ``no_answer``. Records carry
``solution`` (the polished one), ``draft``, ``critique`` and ``solution_source``.

What is ours: the principles' wording, the three prompts, the single critique-and-polish round
and the answer filter are this project's reading of the README's philosophy (the "oversight"
is by the model, where Abel's authors curated by hand and with their own processing).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.evidence import answer_verdict
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "Chern et al., 2023, Generative AI for Math: Abel (GAIR-NLP/abel), Parental Oversight"
TAXONOMY = "synthesis / reasoning (curated step-by-step solutions, critique and polish)"
STAGE = "reasoning (SFT data)"
PRINCIPLES = (
    "Solve the problem step by step, one step per line, numbered Step 1:, Step 2: and so on.",
    "Each step says why it is taken, from the problem or an earlier step, and shows its "
    "calculation.",
    "State any fact or formula the solution needs that the problem does not give.",
    'Use the same format throughout and end with a line "The answer is N", where N is the '
    "final answer.",
)


class OverseeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Literal["gold", "sampled"] = "gold"
    samples: int = Field(1, ge=1, le=32)  # drafts per problem with source: sampled
    temperature: float = Field(0.7, ge=0, le=2)  # drafts; critique and polish are greedy
    max_tokens: int = Field(512, ge=16)
    critique_max_tokens: int = Field(256, ge=16)


@register("abel.oversee", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Oversee(MapStep):
    """GAIR-Abel Parental Oversight: principled solutions, critiqued, polished, kept on gold."""

    Params = OverseeParams
    reads = ("question", "answer")
    writes = ("solution", "draft", "critique", "solution_source", "verification")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        reference = str(row.get("solution") or "").strip()
        if p.source == "gold" and not reference:
            raise RowError("no_solution", "the row has no solution to curate (source: gold)")
        count = 1 if p.source == "gold" else p.samples
        results = await asyncio.gather(*(self.oversee(row, ctx, n) for n in range(count)))
        return list(results)

    async def oversee(self, row: dict[str, Any], ctx: StepContext, number: int) -> dict[str, Any]:
        """Write, critique and polish one solution; the record, or an error row."""
        p, llm, row_id = self.params, ctx.require_llm(), row[META]["id"]
        question, gold = str(row["question"]), str(row["answer"])
        reference = str(row.get("solution") or "").strip() if p.source == "gold" else ""
        temperature = 0.0 if p.source == "gold" else p.temperature
        write = self.ask("abel_write.j2", temperature, p.max_tokens, ctx.seed(row_id, "write", number),
                         question=question, reference=reference)  # fmt: skip
        draft = (await llm.complete(write)).text.strip()
        critique_request = self.ask("abel_critique.j2", 0.0, p.critique_max_tokens,
                                    ctx.seed(row_id, "critique", number),
                                    question=question, answer=gold, solution=draft)  # fmt: skip
        critique = (await llm.complete(critique_request)).text.strip()
        polish = self.ask("abel_polish.j2", 0.0, p.max_tokens, ctx.seed(row_id, "polish", number),
                          question=question, solution=draft, critique=critique)  # fmt: skip
        solution = (await llm.complete(polish)).text.strip()
        verification = answer_verdict(solution, gold, last_number=False)
        fields = {
            "solution": solution,
            "draft": draft,
            "critique": critique,
            "solution_source": p.source,
            "verification": verification,
        }
        if not verification["verified"]:
            kind = "no_answer" if verification["extracted"] is None else "answer_mismatch"
            return dropped(self, row, kind, f"solution {number}: {kind}", number, fields)
        return self.derived(row, fields, ctx, [write, critique_request, polish], index=number)

    @staticmethod
    def ask(
        template: str, temperature: float, max_tokens: int, seed: int, **values: Any
    ) -> ChatRequest:
        """One chat request of ``template`` with the principles and ``values``."""
        return chat(
            ("user", render(__file__, template, principles=PRINCIPLES, **values)),
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
        )
