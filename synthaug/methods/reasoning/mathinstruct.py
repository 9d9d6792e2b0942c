"""MathInstruct / MAmmoTH (Yue et al., 2023, "MAmmoTH: Building Math Generalist Models through
Hybrid Instruction Tuning", arXiv 2309.05653).

MathInstruct mixes chain-of-thought (CoT) rationales with program-of-thought (PoT)
rationales, Python programs that print the answer. Where a dataset had no rationale the
authors had GPT-4 write one and kept it only when it checked out: a program is executed
and kept only if its output matches the gold answer; a CoT rationale is kept when its
answer matches (with self-consistency). PoT questions carry the trigger phrase
" Let's write a program." MAmmoTH's *hybrid* decoding tries PoT first and falls back to
CoT when the program does not execute.

- ``mathinstruct.cot``: a step-by-step rationale ending in "The answer is X"; with
  ``samples`` > 1, self-consistency: n samples, the majority answer, the first rationale
  that reached it.
- ``mathinstruct.pot``: the model writes a program; its code block is run in the run's
  sandbox (``ctx.sandbox``) and the answer is read from the last line it prints
  (verification kind ``program``).
- ``mathinstruct.hybrid``: PoT, and CoT when the program is missing, does not run, or
  prints no answer.

Records are MathInstruct's ``{source, instruction, output}`` (``source`` like
``data/CoT/gsm_symbolic.json``) plus ``rationale_type`` and ``verification``. A rationale
that does not check is dropped by default, as the paper keeps only checked ones: it goes
to the errors file with kind ``no_answer``, ``wrong_answer``, ``no_program`` or
``program_error``, so the run summary counts each; ``keep_failed: true`` keeps it as a
record with ``verification.verified`` false and ``failure`` naming the kind.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import PurePath
from typing import Any

from pydantic import ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.sampling import SelfConsistency
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.code import run_program
from ...verify.evidence import answer_verdict, program_verdict, verdict
from ...verify.math_answer import answers_match, extract_answer
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "Yue et al., 2023, MAmmoTH / MathInstruct (arXiv 2309.05653)"
TAXONOMY = "synthesis / reasoning (CoT and program-of-thought rationales, answer-checked)"
STAGE = "reasoning (SFT data)"
POT_TRIGGER = " Let's write a program."
FAILURES = {
    "no_program": "the reply holds no Python program",
    "program_error": "the program did not run to the end",
    "no_answer": "no final answer in the rationale (or in what the program printed)",
    "wrong_answer": "the answer is not the gold answer",
}
CODE_BLOCK = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)


# --- shared by the answer-checked reasoning methods -------------------------------------


def failure_kind(verification: dict[str, Any]) -> str:
    """Why an ``answer``/``program`` verification failed, as an error kind."""
    if verification["kind"] == "program":
        if not verification["code"]:
            return "no_program"
        if verification["execution"]["status"] != "ok":
            return "program_error"
    return "no_answer" if verification.get("extracted") is None else "wrong_answer"


def dataset_name(row: dict[str, Any]) -> str:
    """The input's dataset name (its source's file stem), for MathInstruct's ``source``."""
    source = str(row.get(META, {}).get("source") or "math_problems")
    return PurePath(source).stem or "math_problems"


def extract_program(text: str) -> str | None:
    """The program in a reply: the first fenced block that prints (else the first block);
    a bare reply that parses as Python and prints; otherwise None."""
    blocks = [b.strip() for b in CODE_BLOCK.findall(text) if b.strip()]
    if blocks:
        printing = [b for b in blocks if "print" in b]
        return (printing or blocks)[0]
    bare = text.strip()
    if "print" not in bare:
        return None
    try:
        ast.parse(bare)
    except SyntaxError:
        return None
    return bare


def majority(answers: list[str | None]) -> tuple[str | None, int]:
    """The most common answer (equal answers grouped by ``answers_match``; ties: the one
    seen first) and its vote count; ``(None, 0)`` when no sample has an answer."""
    groups: list[str] = []
    votes: Counter[int] = Counter()
    for answer in answers:
        if answer is None:
            continue
        for i, representative in enumerate(groups):
            if answers_match(answer, representative):
                votes[i] += 1
                break
        else:
            groups.append(answer)
            votes[len(groups) - 1] += 1
    if not groups:
        return None, 0
    best = max(range(len(groups)), key=lambda i: (votes[i], -i))
    return groups[best], votes[best]


# --- the steps --------------------------------------------------------------------------


class RationaleParams(SelfConsistency):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(1, ge=1, le=128)  # CoT self-consistency: n samples, majority answer
    temperature: float | None = Field(None, ge=0, le=2)  # None: 0 (1 sample), 0.7 (several)
    max_tokens: int = Field(1024, ge=16)
    keep_failed: bool = False  # False: drop what does not check (the paper keeps only checked)


class Rationale(MapStep):
    """Shared by the CoT, PoT and hybrid steps."""

    Params = RationaleParams
    reads = ("question", "answer")
    writes = ("source", "instruction", "output", "rationale_type", "verification")
    uses_llm = True

    async def cot(
        self, row: dict[str, Any], ctx: StepContext
    ) -> tuple[dict[str, Any], list[ChatRequest]]:
        """A CoT record's fields (self-consistency when ``samples`` > 1) and its request."""
        p = self.params
        request = chat(
            ("user", render(__file__, "mathinstruct_cot.j2", question=row["question"])),
            n=p.samples,
            temperature=p.sampling_temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], "cot"),
        )
        completion = await ctx.require_llm().complete(request)
        texts = [choice.text.strip() for choice in completion.choices[: p.samples]]
        fields: dict[str, Any] = {
            "source": f"data/CoT/{dataset_name(row)}.json",
            "instruction": row["question"],
            "rationale_type": "cot",
        }
        if p.samples == 1:
            fields["output"] = texts[0]
        else:
            answers = [extract_answer(text) for text in texts]
            chosen, votes = majority(answers)
            agree = [
                chosen is not None and a is not None and answers_match(a, chosen) for a in answers
            ]
            first = agree.index(True) if any(agree) else 0
            fields["output"] = texts[first]
            fields["self_consistency"] = {
                "samples": len(texts),
                "answers": answers,
                "majority": chosen,
                "votes": votes,
            }
        fields["verification"] = answer_verdict(fields["output"], str(row["answer"]))
        return fields, [request]

    async def pot(
        self, row: dict[str, Any], ctx: StepContext
    ) -> tuple[dict[str, Any], list[ChatRequest]]:
        """A PoT record's fields (the program, run in the sandbox) and its request."""
        p = self.params
        instruction = row["question"] + POT_TRIGGER
        request = chat(
            ("user", render(__file__, "mathinstruct_pot.j2", instruction=instruction)),
            temperature=p.sampling_temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], "pot"),
        )
        reply = (await ctx.require_llm().complete(request)).text
        fields: dict[str, Any] = {
            "source": f"data/PoT/{dataset_name(row)}.json",
            "instruction": instruction,
            "rationale_type": "pot",
        }
        code = extract_program(reply)
        gold = str(row["answer"])
        if code is None:  # nothing to run: an empty program, which prints no answer
            fields["output"] = reply.strip()
            fields["verification"] = verdict(
                "program", False, code="", gold=gold, extracted=None, match=False, execution=None
            )
            return fields, [request]
        result = await run_program(ctx.sandbox, code)
        fields["output"] = code
        fields["verification"] = program_verdict(code, gold, result)
        return fields, [request]

    def finish(
        self,
        row: dict[str, Any],
        fields: dict[str, Any],
        ctx: StepContext,
        requests: list[ChatRequest],
    ) -> list[dict[str, Any]]:
        """The record, or the error row that counts it as dropped."""
        verification = fields["verification"]
        if verification["verified"]:
            return [self.derived(row, fields, ctx, requests)]
        kind = failure_kind(verification)
        if self.params.keep_failed:
            return [self.derived(row, {**fields, "failure": kind}, ctx, requests)]
        return [dropped(self, row, kind, FAILURES[kind], 0, fields)]


@register("mathinstruct.cot", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class CoT(Rationale):
    """MathInstruct CoT: a rationale ending in "The answer is X", kept when the answer checks."""

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        fields, requests = await self.cot(row, ctx)
        return self.finish(row, fields, ctx, requests)


@register("mathinstruct.pot", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class PoT(Rationale):
    """MathInstruct PoT: a Python program run in the sandbox, kept when its output checks."""

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        fields, requests = await self.pot(row, ctx)
        return self.finish(row, fields, ctx, requests)


@register("mathinstruct.hybrid", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Hybrid(Rationale):
    """MAmmoTH hybrid: PoT first; CoT when the program does not execute or prints no answer."""

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        fields, requests = await self.pot(row, ctx)
        pot = fields["verification"]
        if not pot["code"] or pot["execution"]["status"] != "ok" or pot["extracted"] is None:
            fields, cot_requests = await self.cot(row, ctx)
            fields["pot_fallback"] = {"code": pot["code"], "execution": pot["execution"]}
            requests = requests + cot_requests
        return self.finish(row, fields, ctx, requests)
