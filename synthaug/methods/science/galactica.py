"""Galactica's scientific formats (Taylor et al., 2022, arXiv 2211.09085, §3.1).

Galactica's corpus marks scientific modalities with special tokens:

- **Working memory**: step-by-step reasoning goes between ``<work>`` and ``</work>``, the
  final answer after it. A computation a person would hand to a calculator is *offloaded*: the
  work block writes a small Python program to a file, runs it and reads its output, instead of
  computing in the text.
- **Citations**: ``[START_REF] title, first author [END_REF]``.
- **Chemistry**: SMILES between ``[START_SMILES]`` / ``[END_SMILES]``, isomeric SMILES between
  ``[START_I_SMILES]`` / ``[END_I_SMILES]``.
- **Biology**: amino-acid sequences between ``[START_AMINO]`` / ``[END_AMINO]`` and DNA between
  ``[START_DNA]`` / ``[END_DNA]`` (both, like SMILES, tokenised by character in the paper).

``galactica.format`` renders a solved question in that form: ``Question: ...`` (molecules and
sequences of the record wrapped inline, or on a line of their own when the text does not
quote them), ``<work>`` with the reasoning, then ``Answer: ...``, and the record's references
as citation tokens. Offloading (``offload: auto``): a record's own ``program`` column when it
has one, else every ``expression = number`` of the reasoning collected into one program that
prints each value; the program runs in synthaug's sandbox and the work block shows it being
written, run and its output. A computed value that contradicts the stated one makes the row an
error row ``arithmetic_mismatch``; a record whose markup fails ``check_markup`` (unbalanced or
nested tokens, a sequence outside its alphabet, a reference without "title, author") is an
error row ``malformed_markup``.

What differs here: the exact layout of an offloaded program inside ``<work>`` (``with
open(...)`` writing the file, then ``python file.py`` and its output) is written from memory
of the paper's example (no released data-processing code was found); the paper offloads
where its annotators judged it needed, here whenever the reasoning has arithmetic with a
stated result; digit splitting is the tokenizer's job and is not done in the text.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...records import derive
from ...verify.math_answer import answers_match
from ..registry import register

PAPER = "Taylor et al., 2022, Galactica: A Large Language Model for Science (arXiv 2211.09085)"
TAXONOMY = "augmentation / reformation (scientific markup)"
STAGE = "pre-training / domain (science)"
Sequence = Literal["smiles", "i_smiles", "amino", "dna"]
TOKENS: dict[str, tuple[str, str]] = {
    "smiles": ("[START_SMILES]", "[END_SMILES]"),
    "i_smiles": ("[START_I_SMILES]", "[END_I_SMILES]"),
    "amino": ("[START_AMINO]", "[END_AMINO]"),
    "dna": ("[START_DNA]", "[END_DNA]"),
    "ref": ("[START_REF]", "[END_REF]"),
    "work": ("<work>", "</work>"),
}
LABELS = {"smiles": "SMILES", "i_smiles": "SMILES", "amino": "Sequence", "dna": "DNA"}
ALPHABETS = {
    "smiles": re.compile(r"[A-Za-z0-9@+\-\[\]()=#$:/\\%.*]+"),
    "amino": re.compile(r"[ACDEFGHIKLMNPQRSTVWYBXZUO]+"),
    "dna": re.compile(r"[ACGTN]+"),
}
ALPHABETS["i_smiles"] = ALPHABETS["smiles"]
_NUMBER = r"\d+(?:\.\d+)?"
_OPERAND = rf"\(?\s*{_NUMBER}\s*\)?"
_ARITHMETIC = re.compile(
    rf"(?P<expr>{_OPERAND}(?:\s*[-+*/×÷^]\s*{_OPERAND})+)\s*=\s*(?P<result>-?{_NUMBER})(?![\d.]*\d)"
)
PROGRAM_FILE = "work.py"


def wrap(kind: str, text: str) -> str:
    """``text`` between the start and end tokens of ``kind``."""
    start, end = TOKENS[kind]
    return f"{start}{text}{end}"


def cite(title: str, author: str) -> str:
    """A citation token: ``[START_REF] title, author [END_REF]``."""
    return f"{TOKENS['ref'][0]} {title.strip()}, {author.strip()} {TOKENS['ref'][1]}"


def arithmetic(text: str) -> list[dict[str, str]]:
    """The ``expression = result`` computations of a text (``{expr, stated}``), in order;
    ``×``, ``÷`` and ``^`` are read as ``*``, ``/`` and ``**``."""
    found = []
    for match in _ARITHMETIC.finditer(text):
        expr = match.group("expr").strip()
        if expr.count("(") != expr.count(")"):
            continue
        found.append({"expr": expr, "stated": match.group("result")})
    return found


def python_expression(expr: str) -> str:
    return expr.replace("×", "*").replace("÷", "/").replace("^", "**")


def offload_program(computations: list[dict[str, str]]) -> str:
    """A program printing each computation's value, one line each."""
    return "".join(f"print({python_expression(c['expr'])})\n" for c in computations)


def work_block(reasoning: str, program: str | None, output: str | None) -> str:
    """``<work>`` reasoning (and the offloaded program: written, run, its output) ``</work>``."""
    lines = [TOKENS["work"][0], reasoning.strip()]
    if program is not None:
        lines += [
            f'with open("{PROGRAM_FILE}", "w") as file:',
            f"    file.write({program!r})",
            "",
            f"python {PROGRAM_FILE}",
            (output or "").rstrip(),
        ]
    lines.append(TOKENS["work"][1])
    return "\n".join(lines)


def _spans(text: str, start: str, end: str) -> tuple[list[str], list[str]]:
    """The contents of the ``start``...``end`` spans of ``text`` and the problems found."""
    contents, problems, position = [], [], 0
    while True:
        opened, closed = text.find(start, position), text.find(end, position)
        if opened < 0:
            if closed >= 0:
                problems.append(f"{end} without {start}")
            return contents, problems
        after = opened + len(start)
        closed = text.find(end, after)
        if closed < 0:
            problems.append(f"{start} without {end}")
            return contents, problems
        inner = text[after:closed]
        if start in inner:
            problems.append(f"nested {start}")
        contents.append(inner)
        position = closed + len(end)


def check_markup(text: str) -> list[str]:
    """What is wrong with the Galactica markup of ``text`` (empty when it is well formed)."""
    problems = []
    for kind, (start, end) in TOKENS.items():
        contents, found = _spans(text, start, end)
        problems += found
        for inner in contents:
            if kind == "ref":
                title, _, author = inner.strip().rpartition(",")
                if not title.strip() or not author.strip():
                    problems.append(f"citation not 'title, author': {inner.strip()!r}")
            elif kind in ALPHABETS and not ALPHABETS[kind].fullmatch(inner):
                problems.append(f"{kind} sequence with a character outside its alphabet: {inner!r}")
            elif kind in ("smiles", "i_smiles") and not _balanced(inner):
                problems.append(f"SMILES with unbalanced brackets: {inner!r}")
    return problems


def _balanced(smiles: str) -> bool:
    depth = {"(": 0, "[": 0}
    for char in smiles:
        if char in "([":
            depth[char] += 1
        elif char in ")]":
            key = "(" if char == ")" else "["
            depth[key] -= 1
            if depth[key] < 0:
                return False
    return not any(depth.values())


def with_sequences(text: str, sequences: dict[str, tuple[str, str]]) -> str:
    """``text`` with each sequence (column -> (kind, value)) wrapped where the text quotes it
    as a word, else added on a line of its own (``SMILES: [START_SMILES]...``)."""
    for kind, value in sequences.values():
        quoted = re.compile(rf"(?<![\w\[\]]){re.escape(value)}(?![\w\[\]])")
        wrapped = wrap(kind, value)
        if len(value) > 2 and quoted.search(text):
            text = quoted.sub(lambda _, wrapped=wrapped: wrapped, text)
        else:
            text = f"{text}\n{LABELS[kind]}: {wrapped}"
    return text


class FormatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = "question"  # columns read
    reasoning: str = "solution"
    answer: str = "answer"
    program: str | None = "program"  # a column with a program to offload (used when present)
    offload: Literal["auto", "never"] = "auto"
    references: str | None = "references"  # a column of [{title, author}] (used when present)
    sequences: dict[str, Sequence] = Field(
        default_factory=lambda: {"smiles": "smiles"},
        description="columns holding molecules or sequences -> their kind",
    )


@register("galactica.format", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Format(MapStep):
    """Galactica: a solved question in <work>, citation and sequence tokens, sums offloaded.

    The markup is checked (``check_markup``).

    Input columns: the ``question``, ``reasoning`` and ``answer`` params' columns (optional:
    ``program``, ``references``, the ``sequences`` columns). Output columns: ``text`` (the
    Galactica document), ``messages`` (user: the question; assistant: the work block and the
    answer) and ``galactica`` (``{offloaded, program, output, computations[{expr, stated,
    computed, match}], execution}``)."""

    Params = FormatParams
    params: FormatParams
    writes = ("text", "messages", "galactica")

    def input_columns(self) -> set[str]:
        p = self.params
        return {p.question, p.reasoning, p.answer}

    async def offload(self, row: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        """The program (the row's own, or one of the reasoning's computations), run."""
        p = self.params
        own = row.get(p.program) if p.program else None
        computations = [] if own else arithmetic(str(row[p.reasoning]))
        if p.offload == "never" or not (own or computations):
            return {"offloaded": False}
        program = str(own) if own else offload_program(computations)
        result = await ctx.sandbox.run(program)
        if not result.ok:
            raise RowError("program_failed", f"the offloaded program failed: {result.status}")
        printed = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        for computation, value in zip(computations, printed, strict=False):
            computation["computed"] = value
            computation["match"] = answers_match(value, computation["stated"])
        wrong = [c for c in computations if not c.get("match")]
        if wrong:
            first = wrong[0]
            raise RowError("arithmetic_mismatch", f"{first['expr']} is "
                           f"{first.get('computed')}, not {first['stated']}")  # fmt: skip
        return {"offloaded": True, "program": program, "output": result.stdout,
                "computations": computations, "execution": result.evidence()}  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        work = await self.offload(row, ctx)
        sequences = {
            column: (kind, str(row[column]))
            for column, kind in p.sequences.items()
            if row.get(column)
        }
        question = with_sequences(str(row[p.question]).strip(), sequences)
        body = work_block(str(row[p.reasoning]), work.get("program"), work.get("output"))
        references = row.get(p.references) if p.references else None
        citations = [cite(r["title"], r["author"]) for r in references or []]
        answer = f"Answer: {row[p.answer]}" + (" " + " ".join(citations) if citations else "")
        reply = f"{body}\n\n{answer}"
        text = f"Question: {question}\n\n{reply}"
        problems = check_markup(text)
        if problems:
            raise RowError("malformed_markup", "; ".join(problems))
        fields = {
            "text": text,
            "messages": [{"role": "user", "content": f"Question: {question}"},
                         {"role": "assistant", "content": reply}],
            "galactica": work,
        }  # fmt: skip
        return [derive(row, fields, step=self.name, method=self.method)]
