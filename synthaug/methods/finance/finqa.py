"""FinQA (Chen et al., EMNLP 2021, "FinQA: A Dataset of Numerical Reasoning over Financial
Data", arXiv 2109.00122): numeric questions over financial reports, answered by programs.

FinQA's annotators (finance experts) read a page of an earnings report, its text and a
table, wrote a question that needs numerical reasoning over it, and the reasoning program
that answers it: a sequence of operations (add, subtract, multiply, divide, greater, exp and
table aggregations) whose arguments are numbers from the page, FinQA's constants or earlier
steps' results; the gold answer is the program's execution result.

``finqa.generate`` has the model play the annotator over filings-style documents (``pre_text``,
``table``, ``post_text``): per document, ``questions`` requests each give a question and a
Python program that assigns numbers from the document to variables and computes ``answer``.
The program runs only in the run's sandbox (``ctx.sandbox``); the answer is what it prints,
so it comes from execution, not from the model. Every number the program uses must be
written in the document (up to sign) or be a FinQA constant, and one at least must come from
the document. Both are checked and recorded as
``verification`` of kind ``finqa_program`` (re-run by ``synthaug verify``); a program that
fails, prints no number, or uses a number not in the document is an error row
(``program_failed``, ``ungrounded_numbers``), a reply without a question and a program
``format``.

Differences from the paper: a model, not finance experts, writes the question and the
program; the program is Python run in the sandbox, not FinQA's operation DSL (it computes
the same arithmetic); the prompt is written for synthaug; the documents are filings-style
passages of fictional companies written for synthaug, not S&P 500 earnings reports;
``constrain: numbers`` holds the reply to the format with a grammar whose number literals are
exactly the document's, for small models (the checks still run).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.code import run_program
from ...verify.evidence import finqa_verdict
from ...verify.finqa import CONSTANTS, document_numbers
from ..common.code import first_python_block
from ..common.rows import dropped
from ..common.sources import PackagedSource
from ..registry import register
from ..templates import render

PAPER = (
    "Chen et al., 2021, FinQA: A Dataset of Numerical Reasoning over Financial Data "
    "(EMNLP 2021, arXiv 2109.00122)"
)
TAXONOMY = "synthesis / domain model distillation (program-verified numeric QA)"
STAGE = "instruction tuning (finance domain)"
DOCUMENT = ("pre_text", "table", "post_text")
YEARS = (1900, 2100)  # whole numbers in this range are taken as years by the grammar
MAX_ASSIGNMENTS = 4  # constrained replies: variables before `answer` (small models loop)
QUESTION = re.compile(r"question\s*:\s*(.+)", re.IGNORECASE)


@register("finqa.filings", taxonomy="I/O (filings-style documents)", stage=STAGE, paper="-")
class Filings(PackagedSource):
    """Filings-style documents with a table (default: 5 shipped, fictional companies)."""

    builtin = "finance_filings.jsonl"
    required = DOCUMENT


def document_text(row: dict[str, Any]) -> str:
    """The document as the prompt shows it: the text before, the table (one row a line,
    cells ``|``-separated), the text after."""
    table = "\n".join(" | ".join(str(cell) for cell in line) for line in row["table"])
    return f"{row['pre_text']}\n\n{table}\n\n{row['post_text']}".strip()


def literal(number: float) -> str:
    """How a grammar writes a document number in Python: ``4812``, ``1245.6``."""
    return str(int(number)) if number == int(number) else repr(number)


def program_grammar(numbers: list[float]) -> str:
    """GBNF: a question line, then a Python block of assignments of the document's numbers
    (or FinQA's positive constants), at most ``MAX_ASSIGNMENTS``, and ``answer = <arithmetic
    over names and numbers, one operation at least>``. Years are left out: they label columns, and a small model
    otherwise computes with them."""
    amounts = [n for n in numbers if n >= 0 and not (n == int(n) and YEARS[0] <= n <= YEARS[1])]
    allowed = amounts + [c for c in sorted(CONSTANTS) if c > 0]
    shown = " | ".join(json.dumps(literal(n)) for n in dict.fromkeys(map(float, allowed)))
    return "\n".join([
        'root ::= "Question: " [A-Z] [^\\n?]{8,160} "?\\n```python\\n" assign'
        f'{" assign?" * (MAX_ASSIGNMENTS - 1)} "answer = " expr "\\n```"',
        'assign ::= name " = " num "\\n"',
        # an underscore: never a Python keyword; bounded: small models loop in a name
        'name ::= [a-z]{1,12} "_" [a-z0-9]{1,12}',
        'expr ::= term (" " [-+*/] " " term)+',  # one operation at least, as every FinQA program
        'term ::= name | num | "(" expr ")"',
        f"num ::= {shown}",
    ]) + "\n"  # fmt: skip


def parse_reply(text: str) -> tuple[str, str] | None:
    """``(question, program)`` of a reply, or None without a question line or a Python block."""
    question = QUESTION.search(text.split("```")[0])
    code = first_python_block(text if text.rstrip().endswith("```") else text + "\n```")
    if question is None or code is None:
        return None
    return " ".join(question.group(1).split()), code


def executed(code: str) -> str:
    """The program run: the model's code, its own prints silenced, then ``print(answer)``."""
    body = "\n".join("    " + line for line in code.rstrip().splitlines()) or "    pass"
    return ("import contextlib as _contextlib\nimport io as _io\n\n"
            f"with _contextlib.redirect_stdout(_io.StringIO()):\n{body}\n\nprint(answer)\n")  # fmt: skip


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    questions: int = Field(2, ge=1, le=32, description="questions asked per document")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=32)
    constrain: Literal["none", "numbers"] = Field(
        "none",
        description="numbers: a grammar holds the format and the program's numbers to the "
        "document's (for small models; the checks still run); none: free text",
    )
    keep_failed: bool = False  # keep the records whose program failed its checks, unverified


@register("finqa.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(MapStep):
    """FinQA: numeric questions over a filing, answered by programs run in the sandbox.

    Input columns: ``pre_text``, ``table``, ``post_text``. Output columns: ``question``,
    ``program``, ``answer`` (executed), ``answer_source`` (``execution``), ``context`` (the
    document as shown), ``messages`` and ``verification`` (``finqa_program``)."""

    Params = GenerateParams
    params: GenerateParams
    reads = DOCUMENT
    writes = ("question", "program", "answer", "answer_source", "context", "messages",
              "verification")  # fmt: skip
    uses_llm = True

    def request(self, row: dict[str, Any], ctx: StepContext, k: int) -> ChatRequest:
        p, context = self.params, document_text(row)
        grammar = program_grammar(document_numbers(context)) if p.constrain == "numbers" else None
        prompt = render(__file__, "finqa_generate.j2", document=context)
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    seed=ctx.seed(row[META]["id"], k), grammar=grammar)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        made = await asyncio.gather(*(self.one(row, ctx, k) for k in range(self.params.questions)))
        return [record for record in made if record is not None]

    async def one(self, row: dict[str, Any], ctx: StepContext, k: int) -> dict[str, Any] | None:
        request = self.request(row, ctx, k)
        reply = await ctx.require_llm().complete(request)
        parsed = parse_reply(reply.text)
        if parsed is None:
            return dropped(self, row, "format", f"no question and program: {reply.text[:200]!r}", k)
        question, code = parsed
        context = document_text(row)
        program = executed(code)
        check = finqa_verdict(
            program, document_numbers(context), await run_program(ctx.sandbox, program)
        )
        answer = f"{check['answer']}"
        messages = [{"role": "user", "content": f"{context}\n\nQuestion: {question}"},
                    {"role": "assistant",
                     "content": f"```python\n{code}```\nThe answer is {answer}."}]  # fmt: skip
        fields = {"question": question, "program": code, "answer": check["answer"],
                  "answer_source": "execution", "context": context, "messages": messages,
                  "verification": check}  # fmt: skip
        if check["verified"] or self.params.keep_failed:
            return self.derived(row, fields, ctx, [request], index=k, seed=request.seed)
        if check["answer"] is None or not check["literals"]:
            kind, message = "program_failed", f"no numeric answer: {str(check['execution'])[:200]}"
        else:
            kind = "ungrounded_numbers"
            message = f"numbers {check['literals']}: none or not all from the document"
        return dropped(self, row, kind, message, k, fields)
