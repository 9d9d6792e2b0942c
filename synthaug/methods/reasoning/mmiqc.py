"""Iterative question composing, IQC (MMIQC; Liu & Yao, 2024, arXiv 2401.09003).

From a seed problem and its solution the model composes a new problem that builds on
it and is harder; the new problem (with its solution) becomes the seed of the next
round, for ``iterations`` rounds. MMIQC filtered the composed problems by rejection
sampling; here a composed problem has no gold answer, so it is verified by agreement
between two independent solutions:

1. a Python program the model writes for the new problem, executed in the run's
   sandbox (``ctx.sandbox``); it must finish and print its answer (the last line it
   prints is read, as ``synthaug.verify.math_answer.program_answer`` does);
2. a chain-of-thought solution by the model, whose final answer is extracted.

A problem is kept when the program's printed answer equals the CoT's answer. The record
stores both (``program``/``program_answer`` and ``solution``/``cot_answer``) and a
``verification`` of kind ``program`` whose ``gold`` is the CoT's extracted answer and
whose ``extracted`` is the answer read from the program's output, so the check can be
re-run from the record alone. An unverified problem ends the chain (nothing later is
composed from it) unless ``keep_failed`` is set, which keeps it and goes on composing
(for a weak model in tests).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.code import run_program
from ...verify.evidence import program_verdict, verdict
from ...verify.math_answer import extract_answer
from ..registry import register
from ..templates import render

PAPER = "Liu & Yao, 2024, MMIQC / Iterative Question Composing (arXiv 2401.09003)"
TAXONOMY = "synthesis / model self-improvement (iterative question composing)"
STAGE = "reasoning (SFT data)"

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)


def extract_program(reply: str) -> str | None:
    """The Python code of a reply: its first fenced block (a cut-off block counts), else
    the whole reply."""
    match = _FENCE.search(reply)
    code = (match.group(1) if match else reply).strip()
    return code or None


def parse_composed(reply: str) -> str | None:
    """The new problem of a compose reply (without a label or a solution after it)."""
    text = re.sub(r"^\s*(\*\*)?\s*(New )?problem\s*:?\s*(\*\*)?\s*", "", reply.strip(), flags=re.I)
    text = re.split(r"\n\s*(\*\*)?\s*(Solution|Answer)\b", text, maxsplit=1, flags=re.I)[0]
    text = text.strip()
    return text or None


class ComposeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    iterations: int = Field(4, ge=1, le=32)  # rounds of composing per seed
    temperature: float = Field(0.7, ge=0, le=2)  # composing
    solve_temperature: float = Field(0.0, ge=0, le=2)  # the program and the CoT
    max_tokens: int = Field(512, ge=16)  # the composed problem
    solve_max_tokens: int = Field(1024, ge=16)  # the program and the CoT
    keep_failed: bool = False


@register("mmiqc.compose", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Compose(MapStep):
    """MMIQC: compose harder questions iteratively; keep those whose program and CoT agree."""

    Params = ComposeParams
    reads = ("question", "answer")
    writes = (
        "question",
        "solution",
        "answer",
        "program",
        "program_answer",
        "cot_answer",
        "seed_question",
        "original_question",
        "iteration",
        "verification",
    )
    uses_llm = True

    def _request(self, prompt: str, seed: int, temperature: float, max_tokens: int) -> ChatRequest:
        return chat(("user", prompt), temperature=temperature, max_tokens=max_tokens, seed=seed)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        row_id = row[META]["id"]
        seed_question = row["question"]
        seed_solution = row.get("solution") or f"The answer is {row['answer']}."
        out = []
        for i in range(1, p.iterations + 1):
            compose = self._request(
                render(
                    __file__, "mmiqc_compose.j2", question=seed_question, solution=seed_solution
                ),
                ctx.seed(row_id, "compose", i),
                p.temperature,
                p.max_tokens,
            )
            question = parse_composed((await llm.complete(compose)).text)
            if question is None:
                break
            program_request = self._request(
                render(__file__, "mmiqc_program.j2", question=question),
                ctx.seed(row_id, "program", i),
                p.solve_temperature,
                p.solve_max_tokens,
            )
            cot_request = self._request(
                render(__file__, "mmiqc_cot.j2", question=question),
                ctx.seed(row_id, "cot", i),
                p.solve_temperature,
                p.solve_max_tokens,
            )
            program_reply, cot_reply = await asyncio.gather(
                llm.complete(program_request), llm.complete(cot_request)
            )
            code = extract_program(program_reply.text)
            cot = cot_reply.text.strip()
            cot_answer = extract_answer(cot)
            execution = await run_program(ctx.sandbox, code) if code else None
            if code is not None and execution is not None and cot_answer is not None:
                verification = program_verdict(code, cot_answer, execution)
            else:  # nothing to run, or no CoT answer to compare with
                verification = verdict(
                    "program",
                    False,
                    code=code or "",
                    gold=cot_answer,
                    extracted=None,
                    match=False,
                    execution=execution.evidence() if execution is not None else None,
                )
            match = verification["match"]
            program_result = verification["extracted"]
            if not match and not p.keep_failed:
                break
            fields = {
                "question": question,
                "solution": cot,
                "answer": program_result if program_result is not None else cot_answer,
                "program": code,
                "program_answer": program_result,
                "cot_answer": cot_answer,
                "seed_question": seed_question,
                "original_question": row["question"],
                "iteration": i,
                "verification": verification,
            }
            requests = [compose, program_request, cot_request]
            out.append(self.derived(row, fields, ctx, requests, index=i, seed=compose.seed))
            seed_question, seed_solution = question, cot
        return out
