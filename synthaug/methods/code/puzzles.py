"""Self-play programming puzzles (Haluptzok, Bowers and Kalai, 2023, "Language Models Can
Teach Themselves to Program Better", ICLR 2023, arXiv 2207.14502).

A programming puzzle (Schuster et al.'s P3 format) is a Python function ``f`` whose
first argument is the answer and which returns True when the answer is right; a solution
is a function ``g`` returning such an answer. Whether ``f(g())`` is True is checked by
running the code, so a model can write puzzles and solutions for itself and keep only the
verified pairs as training data. The paper prompts the model with a few P3 training
puzzles and their solutions to write new puzzles, then asks it to solve each new puzzle
many times, runs every attempt in a Python interpreter with a timeout, keeps the puzzles
and solutions where ``f(g())`` is True, removes duplicates, and fine-tunes on them.

Here:

1. ``code_puzzles.seeds``: ``count`` prompt slots, each with ``shots`` seed puzzles drawn
   at random (seeded) from the seed set (default: 12 puzzles written for synthaug in P3's
   format; P3's own puzzles ship in no registry package).
2. ``code_puzzles.generate``: a completion prompt lists the shots as numbered ``f<i>``,
   ``g<i>`` and ``assert f<i>(g<i>()) is True`` blocks and opens ``def f<k+1>(``; the model
   continues with the new puzzle and its solution (``attempts`` samples, temperature
   ``temperature``). Each continuation is parsed (both functions present, ``f`` takes the
   answer argument), renamed to ``f`` and ``g`` and checked in the sandbox:
   ``Sandbox.run_tests`` with ``g`` as the candidate and ``f`` plus
   ``assert f(g()) is True`` as the tests, so ``f`` runs in a process ``g`` cannot reach
   and ``g`` cannot redefine ``f``. The verified pairs, distinct by puzzle, are the records,
   each with its ``tests`` verdict as evidence; a slot with none is an error row
   (``no_verified_puzzle``) listing why each attempt failed.

What differs (the paper's details were written from the paper, its code was not found):
the puzzle and its solution come from one continuation, where the paper writes the
puzzle first and then solves it in separate attempts, so a puzzle here is only kept with
the solution that came with it; the paper's models were Codex and GPT-Neo with far more
samples; deduplication is the recipe's ``dedup_exact`` on the puzzle.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...io.readers import read_records
from ...llm.types import ChatRequest
from ...records import META, source_record
from ...verify.code import run_tests
from ...verify.evidence import tests_verdict
from ..common.sampling import sample
from ..registry import register
from ..templates import render

PAPER = "Haluptzok et al., 2023, Language Models Can Teach Themselves to Program Better (ICLR)"
TAXONOMY = "synthesis / model self-improvement (code: verified programming puzzles)"
STAGE = "fine-tuning (code)"
SEED_FILE = "code_puzzles_seeds.jsonl"  # 12 P3-format puzzles written for synthaug
CHECK = "\n\nassert f(g()) is True\n"


def load_puzzles(path: str | None = None) -> list[dict[str, str]]:
    """Seed puzzles (``name``, ``puzzle``, ``solution``): ``path`` or the built-in set."""
    source = path or str(resources.files("synthaug") / "data" / SEED_FILE)
    return list(read_records(source, required=("puzzle", "solution")))


class SeedsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # a JSONL of puzzle/solution pairs; default: the built-in 12
    count: int = Field(50, ge=1)  # prompt slots
    shots: int = Field(5, ge=1)  # seed puzzles shown per prompt


@register("code_puzzles.seeds", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Seeds(SourceStep):
    """Programming puzzles: prompt slots, each with ``shots`` seed puzzles drawn at random."""

    Params = SeedsParams
    writes = ("shots",)

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        puzzles = load_puzzles(p.path)
        for index in range(p.count):
            rng = random.Random(ctx.seed("shots", index))
            shots = rng.sample(puzzles, min(p.shots, len(puzzles)))
            fields = {"shots": [{"puzzle": s["puzzle"], "solution": s["solution"]} for s in shots]}
            yield source_record(fields, source=p.path or SEED_FILE, index=index)


def numbered(code: str, old: str, number: int) -> str:
    """``code`` with the functions ``f``/``g`` (``old`` = "") or ``f<n>``/``g<n>`` renamed."""
    new = "" if number == 0 else str(number)
    return re.sub(rf"\b([fg]){old}\b", rf"\g<1>{new}", code)


def parse_puzzle(continuation: str, number: int) -> tuple[str, str]:
    """The puzzle ``f`` and solution ``g`` the model wrote after ``def f<number>(``, renamed to
    ``f`` and ``g``; ``RowError`` when either is missing or ``f`` takes no answer."""
    text = f"def f{number}(" + continuation
    lines = text.splitlines(keepends=True)
    found: dict[str, str] = {}
    for end in range(len(lines), 0, -1):  # the longest prefix that parses
        try:
            tree = ast.parse("".join(lines[:end]))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in (f"f{number}", f"g{number}"):
                found.setdefault(node.name[0], ast.get_source_segment("".join(lines[:end]), node))
                if node.name[0] == "f" and not node.args.args:
                    raise RowError("no_answer_argument", "the puzzle f takes no argument")
        break
    if "f" not in found or "g" not in found:
        missing = "puzzle f" if "f" not in found else "solution g"
        raise RowError("unparsed", f"the continuation has no {missing}")
    return numbered(found["f"], str(number), 0) + "\n", numbered(found["g"], str(number), 0) + "\n"


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(4, ge=1, le=64)  # continuations sampled per prompt
    temperature: float = Field(0.8, ge=0, le=2)  # written from memory of the paper
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(256, ge=16)


@register("code_puzzles.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(MapStep):
    """Programming puzzles: new puzzles f with solutions g, kept when f(g()) is True (sandbox)."""

    Params = GenerateParams
    reads = ("shots",)
    writes = ("puzzle", "solution", "messages", "verification", "puzzle_attempt")
    uses_llm = True

    def request(self, shots: list[dict[str, str]], seed: int) -> ChatRequest:
        p = self.params
        blocks = [
            {"puzzle": numbered(s["puzzle"], "", i), "solution": numbered(s["solution"], "", i)}
            for i, s in enumerate(shots, 1)
        ]
        return ChatRequest(
            prompt=render(__file__, "code_puzzles.j2", shots=blocks).rstrip("\n"),
            n=p.attempts,
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            stop=["\nassert", "\ndef f"],
            seed=seed,
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row["shots"], seed)
        choices, sent = await sample(ctx.require_llm(), request)
        number = len(row["shots"]) + 1
        records, seen, failures = [], set(), []
        for index, choice in enumerate(choices):
            try:
                puzzle, solution = parse_puzzle(choice.text, number)
            except RowError as error:
                failures.append(f"attempt {index}: {error.kind}")
                continue
            if puzzle in seen:
                continue
            result = await run_tests(ctx.sandbox, solution, puzzle + CHECK)
            if not result.ok:
                failures.append(f"attempt {index}: {result.status}")
                continue
            seen.add(puzzle)
            fields = {
                "puzzle": puzzle,
                "solution": solution,
                "messages": puzzle_messages(puzzle, solution),
                "verification": tests_verdict(solution, puzzle + CHECK, result),
                "puzzle_attempt": index,
            }
            records.append(self.derived(row, fields, ctx, sent, seed=seed, index=index))
        if not records:
            raise RowError("no_verified_puzzle", "; ".join(failures) or "no attempt")
        return records


def puzzle_messages(puzzle: str, solution: str) -> list[dict[str, str]]:
    """The pair as a training conversation: find an input that makes ``f`` return True."""
    ask = f"Write a function g() returning an input for which f returns True.\n\n{puzzle}"
    return [{"role": "user", "content": ask}, {"role": "assistant", "content": solution}]
