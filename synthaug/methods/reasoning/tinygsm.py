"""TinyGSM: problem variants solved by Python programs (Liu et al., 2023, arXiv 2312.09241).

For each seed problem the model writes new grade-school problems like it (other numbers,
other contexts), each as a Python function ``def simple_math_problem() -> int:`` whose
docstring is the new problem and whose body computes and returns the answer. The
function is executed in the run's sandbox (``ctx.sandbox``); the answer is what it
returns (printed by a one-line driver), so it comes from execution, not from the model:
a variant whose program fails, has no docstring, or returns nothing is dropped. Only the
reply's imports and definitions are kept (module-level calls and prints are dropped) and
the function's own prints are silenced, so the answer is always its return value.

Records: ``question`` (the docstring), ``solution`` and ``program`` (the function),
``answer`` (executed), ``answer_source: "execution"``, ``seed_question`` and a
``verification`` of kind ``program``: ``code`` is the executed program (the function and
its driver) and ``gold`` its executed answer, so re-running it must give that answer again.

TinyGSM also trained a verifier to choose among several sampled programs; the optional
``verifier`` check is a simpler stand-in: a second program is sampled for the new problem
alone and must return the same answer. Then ``verification`` checks that second program
against the first one's answer (``gold``), and the first program and its run are kept
under ``verification.reference``.
"""

from __future__ import annotations

import ast
import asyncio
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.code import run_program
from ...verify.evidence import program_verdict, verdict
from ...verify.math_answer import program_answer
from ..common.sampling import sample
from ..registry import register
from ..templates import render
from .mmiqc import extract_program

PAPER = "Liu et al., 2023, TinyGSM (arXiv 2312.09241)"
TAXONOMY = "synthesis / general model distillation (program-aided problem variants)"
STAGE = "reasoning (SFT data)"
FUNCTION = "simple_math_problem"
DRIVER = """import contextlib as _contextlib
import io as _io

with _contextlib.redirect_stdout(_io.StringIO()):
    _result = {name}()
if _result is not None:
    print(_result)
"""


def parse_function(code: str, name: str = FUNCTION) -> tuple[str, str] | None:
    """``(program, question)`` from a reply's code: the imports and definitions only (calls
    and prints at module level are dropped, so the answer can only be the function's
    result) and the docstring of the function ``name``. None when the code does not
    parse, lacks the function, or its docstring is missing or still a placeholder."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    lines, kept, question = code.splitlines(), [], None
    definitions = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in tree.body:
        if not isinstance(node, definitions):
            continue
        decorators = getattr(node, "decorator_list", [])
        start = min([node.lineno, *(d.lineno for d in decorators)])
        kept.append("\n".join(lines[start - 1 : node.end_lineno]))
        if isinstance(node, ast.FunctionDef) and node.name == name:
            question = (ast.get_docstring(node) or "").strip()
    lines = [line.strip() for line in (question or "").splitlines() if line.strip()]
    if not lines or all(re.fullmatch(r"<[^<>]*>", line) for line in lines):
        return None  # no docstring, or the prompt's placeholders copied
    return "\n\n\n".join(kept), question


def with_driver(code: str, name: str = FUNCTION) -> str:
    """The program that is executed: the definitions, then a driver that calls the function
    with its own prints silenced and prints the result (nothing when it is None)."""
    return f"{code.rstrip()}\n\n\n{DRIVER.format(name=name)}"


class VariantsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variants: int = Field(4, ge=1, le=128)  # new problems per seed (one request, n samples)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=32)
    verifier: bool = False  # also require a second sampled program to agree
    verifier_temperature: float = Field(0.7, ge=0, le=2)
    keep_failed: bool = False  # keep variants whose program fails or disagrees


@register("tinygsm.variants", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Variants(MapStep):
    """TinyGSM: problem variants as docstring'd Python functions; answers by execution."""

    Params = VariantsParams
    reads = ("question",)
    writes = (
        "question",
        "solution",
        "program",
        "answer",
        "answer_source",
        "seed_question",
        "verification",
    )
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        row_id = row[META]["id"]
        request = chat(
            ("user", render(__file__, "tinygsm_variant.j2", question=row["question"])),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row_id, "variants"),
            n=p.variants,
        )
        choices, sent = await sample(llm, request)
        made = await asyncio.gather(
            *(self.variant(row, ctx, k, choice.text, sent) for k, choice in enumerate(choices))
        )
        return [record for record in made if record is not None]

    async def variant(
        self, row: dict[str, Any], ctx: StepContext, k: int, reply: str, sent: list[ChatRequest]
    ) -> dict[str, Any] | None:
        p = self.params
        parsed = parse_function(extract_program(reply) or "")
        if parsed is None:
            return None
        code, question = parsed
        program = with_driver(code)
        execution = await run_program(ctx.sandbox, program)
        answer = program_answer(execution.stdout) if execution.ok else None
        requests = list(sent)
        if answer is None:
            verification = verdict(
                "program",
                False,
                code=program,
                gold=None,
                extracted=None,
                match=False,
                execution=execution.evidence(),
            )
        else:
            # the answer comes from execution: the program is checked against its own result
            verification = program_verdict(program, answer, execution)
        if p.verifier and answer is not None:
            second = chat(
                ("user", render(__file__, "tinygsm_solve.j2", question=question)),
                temperature=p.verifier_temperature,
                max_tokens=p.max_tokens,
                seed=ctx.seed(row[META]["id"], "verifier", k),
            )
            requests.append(second)
            other = parse_function(
                extract_program((await ctx.require_llm().complete(second)).text) or ""
            )
            if other is not None:
                other_program = with_driver(other[0])
                other_run = await run_program(ctx.sandbox, other_program)
                # the check is now the second program against the first one's answer
                verification = {
                    **program_verdict(other_program, answer, other_run),
                    "reference": {"code": program, "execution": execution.evidence()},
                }
            else:  # no usable function in the reply: the check fails
                verification = verdict(
                    "program",
                    False,
                    code="",
                    gold=answer,
                    extracted=None,
                    match=False,
                    execution=None,
                    reference={"code": program, "execution": execution.evidence()},
                )
        if not verification["verified"] and not p.keep_failed:
            return None
        fields = {
            "question": question,
            "solution": code,
            "program": code,
            "answer": answer,
            "answer_source": "execution",
            "seed_question": row["question"],
            "verification": verification,
        }
        return self.derived(row, fields, ctx, requests, index=k, seed=sent[0].seed)
