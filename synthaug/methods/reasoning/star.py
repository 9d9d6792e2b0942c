"""STaR, the Self-Taught Reasoner (Zelikman et al., NeurIPS 2022, arXiv 2203.14465).

``star.rationalize`` is one STaR data pass: the model writes a rationale and an answer for
each question from a few-shot rationale prompt (six worked GSM-style exemplars, like the
authors' GSM8K prompt file; the text here is our own), decoded as the authors do
(``temperature=0.01, top_p=0.9``: effectively greedy; 96 tokens). A rationale whose answer
matches the gold answer is kept. For a wrong one, *rationalization*: with probability
``p_rationalization`` (the authors: 1.0) the question is asked again with the correct
answer given as a hint (every exemplar carries its hint as well); a rationale that then
reaches the gold answer is kept, stored *without* the hint (the record's ``question`` is
the plain question) and marked ``from_rationalization: true``.

Records: ``question, rationale, answer, from_rationalization`` and ``verification`` (kind
``answer``, on the rationale). A question that fails goes to the errors file as
``wrong_answer`` (not rationalized) or ``rationalization_failed``; with ``keep_failed`` it
stays as a record with ``verification.verified`` false and ``failure``. STaR then fine-tunes the
*original* model on all kept rationales and repeats; that outer loop is outside this step
(see ``rest_em.iterate`` for a loop with a pluggable next model).
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest
from ...records import META
from ...verify.evidence import answer_verdict
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "Zelikman et al., 2022, STaR: Bootstrapping Reasoning With Reasoning (arXiv 2203.14465)"
TAXONOMY = "synthesis / reasoning (self-generated rationales, answer-checked, rationalization)"
STAGE = "reasoning (SFT data)"

SHOTS = [
    {
        "question": "A farmer collects 14 eggs each morning and 9 eggs each evening. How many "
        "eggs does he collect in 5 days?",
        "rationale": "Each day he collects 14 + 9 = 23 eggs. In 5 days he collects 23 * 5 = "
        "115 eggs.",
        "answer": "115",
    },
    {
        "question": "Maya had $60. She bought 3 notebooks for $7 each and a pen for $4. How "
        "much money does she have left?",
        "rationale": "The notebooks cost 3 * 7 = 21 dollars. With the pen she spent 21 + 4 = "
        "25 dollars. She has 60 - 25 = 35 dollars left.",
        "answer": "35",
    },
    {
        "question": "A train travels 180 miles in 3 hours. At the same speed, how far does it "
        "travel in 7 hours?",
        "rationale": "The train's speed is 180 / 3 = 60 miles per hour. In 7 hours it travels "
        "60 * 7 = 420 miles.",
        "answer": "420",
    },
    {
        "question": "A class has 32 students. A quarter of them walk to school and half of the "
        "rest take the bus. How many students take the bus?",
        "rationale": "A quarter of 32 is 32 / 4 = 8 students who walk. The rest are 32 - 8 = 24 "
        "students. Half of them is 24 / 2 = 12 students who take the bus.",
        "answer": "12",
    },
    {
        "question": "Sam is 3 times as old as his sister. His sister is 4 years old. How old "
        "will Sam be in 6 years?",
        "rationale": "Sam is 3 * 4 = 12 years old now. In 6 years he will be 12 + 6 = 18 years "
        "old.",
        "answer": "18",
    },
    {
        "question": "A shop sells pencils in packs of 12. A school needs 150 pencils. How many "
        "packs must it buy?",
        "rationale": "150 / 12 = 12.5, so 12 packs hold only 12 * 12 = 144 pencils, which is "
        "not enough. The school must buy 13 packs.",
        "answer": "13",
    },
]


class RationalizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.01, ge=0, le=2)  # the authors: 0.01 (near greedy)
    top_p: float = Field(0.9, ge=0, le=1)  # the authors: 0.9
    max_tokens: int = Field(96, ge=8)  # the authors' generation length
    p_rationalization: float = Field(1.0, ge=0, le=1)  # share of wrong items rationalized
    keep_failed: bool = False
    # the reference reads only a stated answer ("The answer is" / ####); True: a bare last number too
    last_number_fallback: bool = False


def star_prompt(question: str, hint: str | None = None) -> str:
    """The few-shot rationale prompt (with the correct answer as a hint for rationalization)."""
    return render(__file__, "star_rationale.j2", shots=SHOTS, question=question, hint=hint)


@register("star.rationalize", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rationalize(MapStep):
    """STaR: few-shot rationales kept when correct; wrong ones retried with the answer as hint."""

    Params = RationalizeParams
    reads = ("question", "answer")
    writes = ("rationale", "from_rationalization", "verification")
    uses_llm = True

    def request(self, row: dict[str, Any], ctx: StepContext, hint: str | None) -> ChatRequest:
        p = self.params
        return ChatRequest(
            prompt=star_prompt(row["question"], hint),
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            stop=("\nQ:", "\n\n"),
            seed=ctx.seed(row[META]["id"], "rationalize" if hint else "rationale"),
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        gold = str(row["answer"])
        first = self.request(row, ctx, None)
        rationale = (await llm.complete(first)).text.strip()
        verification = answer_verdict(rationale, gold, p.last_number_fallback)
        requests, rationalized = [first], False
        if not verification["verified"]:
            draw = random.Random(ctx.seed(row[META]["id"], "p_rationalization")).random()
            if draw < p.p_rationalization:
                second = self.request(row, ctx, gold)
                rationale = (await llm.complete(second)).text.strip()
                verification = answer_verdict(rationale, gold, p.last_number_fallback)
                requests, rationalized = [first, second], True
        fields = {
            "rationale": rationale,
            "from_rationalization": rationalized,
            "verification": verification,
        }
        if verification["verified"]:
            return [self.derived(row, fields, ctx, requests)]
        kind = "rationalization_failed" if rationalized else "wrong_answer"
        if p.keep_failed:
            return [self.derived(row, {**fields, "failure": kind}, ctx, requests)]
        message = "wrong even with the answer as a hint" if rationalized else "the answer is wrong"
        return [dropped(self, row, kind, message, 0, fields)]
