"""MathGenie (Lu et al., 2024, "MathGenie: Generating Synthetic Data with Question
Back-translation for Enhancing Mathematical Reasoning of LLMs", arXiv 2402.16352).

MathGenie grows a small seed of human solutions (GSM8K and MATH) into new problems in three
stages:

1. **Iterative solution augmentation**: an LLM rewrites a seed solution into the solution of
   a different problem (numbers changed, conditions added or removed), and rewrites each
   augmented solution again, so the solutions drift further from the seed with each round.
2. **Question back-translation**: a back-translation model turns each augmented solution
   into the question it answers; solutions are better constrained than questions, so the
   new questions are solvable.
3. **Verification-based solution filtering**: the candidate model solves each new question,
   then writes a **verification rationale** that checks the solution; only solutions whose
   verification concludes they are correct are kept as training data.

``mathgenie.augment`` applies ``rounds`` rounds of augmentation to each row's ``solution``
(each round rewrites the previous round's result) and writes one record per round:
``augmented_solution``, ``round``, ``seed_question``. ``mathgenie.backtranslate`` writes
``question`` from ``augmented_solution``. ``mathgenie.verify`` samples ``candidates``
solutions of the new question, asks for a verification rationale of each, and keeps every
candidate whose rationale ends in ``Verdict: correct`` and whose stated answer parses:
records ``question, solution, answer, verification_rationale, verdict``; the rationale is
decoded under a grammar (one line, then ``Verdict: correct|incorrect``; ``constrained:
false`` for backends without GBNF), so every rationale has a verdict; the others go to the
errors file as ``verified_incorrect``, ``no_verdict`` or ``no_answer``.

Different: the paper fine-tunes Llama-2-70B as the augmentation and back-translation models
and its MathGenieLM writes code-integrated solutions and code-integrated verification
rationales run by a Python interpreter; here prompting replaces the fine-tuned models, the
solutions and verifications are in text (the verdict line is the filter), the prompts are
written for synthaug, and the number of rounds (3) and candidates (1) are written from
memory.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.math_answer import stated_answer
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "Lu et al., 2024, MathGenie: question back-translation (arXiv 2402.16352)"
TAXONOMY = "synthesis / reasoning (solution augmentation, question back-translation)"
STAGE = "reasoning (SFT data)"
VERDICT = re.compile(r"verdict\s*:\s*\**\s*(correct|incorrect)", re.IGNORECASE)


def verdict(rationale: str) -> str | None:
    """``correct`` or ``incorrect``: the last verdict line of a verification rationale."""
    found = VERDICT.findall(rationale)
    return found[-1].lower() if found else None


def verdict_grammar(rationale_chars: int) -> str:
    """GBNF: a one-line rationale of 1..``rationale_chars`` characters, then the verdict line."""
    return f'root ::= [^\\n]{{1,{rationale_chars}}} "\\nVerdict: " ("correct" | "incorrect")'


def ask(
    template: str,
    temperature: float,
    max_tokens: int,
    seed: int,
    grammar: str | None = None,
    **values: Any,
) -> ChatRequest:
    """One chat request of ``template`` rendered with ``values``."""
    return chat(
        ("user", render(__file__, template, **values)),
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        grammar=grammar,
    )


class AugmentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rounds: int = Field(3, ge=1, le=10)  # written from memory
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(320, ge=16)


@register("mathgenie.augment", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Augment(MapStep):
    """MathGenie: iterative solution augmentation, each round rewriting the previous one."""

    Params = AugmentParams
    reads = ("question",)  # and each row's ``solution`` (the built-in problems have one)
    writes = ("augmented_solution", "round", "seed_question")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm, row_id = self.params, ctx.require_llm(), row[META]["id"]
        solution = str(row.get("solution") or "").strip()
        if not solution:
            raise RowError("no_solution", "the row has no solution to augment")
        out, requests = [], []
        for number in range(1, p.rounds + 1):
            request = ask(
                "mathgenie_augment.j2", p.temperature, p.max_tokens,
                ctx.seed(row_id, "augment", number), solution=solution,
            )  # fmt: skip
            requests.append(request)
            augmented = (await llm.complete(request)).text.strip()
            if not augmented:
                out.append(dropped(self, row, "empty_augmentation", f"round {number}", number))
                break
            fields = {
                "augmented_solution": augmented,
                "round": number,
                "seed_question": row["question"],
            }
            out.append(self.derived(row, fields, ctx, list(requests), index=number))
            solution = augmented
        return out


class BacktranslateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(192, ge=16)


@register("mathgenie.backtranslate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Backtranslate(MapStep):
    """MathGenie: question back-translation, an augmented solution to the question it solves."""

    Params = BacktranslateParams
    reads = ("augmented_solution",)
    writes = ("question",)
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        request = ask(
            "mathgenie_backtranslate.j2", p.temperature, p.max_tokens,
            ctx.seed(row[META]["id"], "question"), solution=row["augmented_solution"],
        )  # fmt: skip
        question = (await llm.complete(request)).text.strip()
        if not question:
            raise RowError("empty_question", "the back-translated question is empty")
        return [self.derived(row, {"question": question}, ctx, [request])]


class VerifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: int = Field(1, ge=1, le=32)  # solutions per new question (from memory)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(320, ge=16)
    verify_max_tokens: int = Field(256, ge=16)
    rationale_chars: int = Field(600, ge=1)  # the grammar's bound; keep it within the tokens
    constrained: bool = True  # GBNF: rationale, then "Verdict: correct|incorrect"
    last_number_fallback: bool = False  # only a stated answer ("The answer is N") counts


@register("mathgenie.verify", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Verify(MapStep):
    """MathGenie: solve each new question, keep the solutions its verification rationale accepts."""

    Params = VerifyParams
    reads = ("question",)
    writes = ("solution", "answer", "verification_rationale", "verdict")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm, row_id = self.params, ctx.require_llm(), row[META]["id"]
        question = str(row["question"])
        solves = [
            ask("mathgenie_solve.j2", p.temperature, p.max_tokens, ctx.seed(row_id, "solve", i),
                question=question)
            for i in range(p.candidates)
        ]  # fmt: skip
        solutions = [r.text.strip() for r in await asyncio.gather(*map(llm.complete, solves))]
        grammar = verdict_grammar(p.rationale_chars) if p.constrained else None
        checks = [
            ask("mathgenie_verify.j2", 0.0, p.verify_max_tokens, ctx.seed(row_id, "verify", i),
                grammar, question=question, solution=solution)
            for i, solution in enumerate(solutions)
        ]  # fmt: skip
        rationales = [r.text.strip() for r in await asyncio.gather(*map(llm.complete, checks))]
        out = []
        for i, (solution, rationale) in enumerate(zip(solutions, rationales, strict=True)):
            answer = stated_answer(solution, p.last_number_fallback)[0]
            found = verdict(rationale)
            fields = {
                "solution": solution,
                "answer": answer,
                "verification_rationale": rationale,
                "verdict": found,
            }
            if answer is None or found != "correct":
                kind = (
                    "no_answer"
                    if answer is None
                    else ("no_verdict" if found is None else "verified_incorrect")
                )
                out.append(dropped(self, row, kind, f"candidate {i}: {kind}", i, fields))
                continue
            out.append(self.derived(row, fields, ctx, [solves[i], checks[i]], index=i))
        return out
