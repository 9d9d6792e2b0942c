"""RFT, Rejection-sampling Fine-Tuning (Yuan et al., 2023, "Scaling Relationship on Learning
Mathematical Reasoning with Large Language Models", arXiv 2308.01825).

``rft.sample`` samples ``k`` reasoning paths per question (the paper: k=100 at temperature
0.7, from an SFT model), keeps the paths whose final answer equals the gold answer, then
checks every equation of each kept path: a calculator annotation ``<<expr=value>>`` (GSM8K's
format) and, in plain text, a pure-arithmetic ``a * b = c``. The left side is evaluated by a
small arithmetic AST evaluator (never ``eval``) and must be within 1e-3 of the right side;
a path with a failing equation is dropped. The surviving paths are deduplicated by their
*equation list* (joined by ``|``, spaces removed): on a collision the path kept is the one
whose sum of edit distances to the other kept paths is larger (the most different), as in
the authors' ``collect_rejection_sampling.py``. The original gold solution is added as its
own record when the input row has ``solution``. As in the reference, only an answer stated
as such ("The answer is", ``####``, ``\\boxed``) counts; a bare last number counts only with
``last_number_fallback: true``. The form found is in the evidence (``verification.form``).

Every sample ends as one record: kept paths are records with ``verification`` (kind
``answer``) and ``rft_key``; dropped samples go to the errors file with kind
``wrong_answer``, ``bad_equation`` or ``duplicate_path``, so the run summary counts them.
Samples come ``samples_per_call`` at a time through the request's ``n`` (the embedded
llama.cpp backend supports it; set 1 for a backend that does not: one seeded request per
sample).
"""

from __future__ import annotations

import ast
import asyncio
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.evidence import answer_verdict
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "Yuan et al., 2023, Scaling Relationship on Learning Mathematical Reasoning (RFT, arXiv 2308.01825)"
TAXONOMY = "augmentation / reasoning paths (rejection sampling with answer check)"
STAGE = "reasoning (SFT data)"
TOLERANCE = 1e-3  # |lhs - rhs| < 1e-3, as the authors' check_equation
MAX_EXPONENT = 100


def sample_requests(prompt: str, p: Any, stop: str, seeds: list[int]) -> list[ChatRequest]:
    """``p.k`` samples of ``prompt``, ``p.samples_per_call`` per request (request i: seeds[i]).

    ``stop`` ends a reply where a chat model would go on with a next exemplar."""
    calls = math.ceil(p.k / p.samples_per_call)
    return [
        chat(
            ("user", prompt),
            n=min(p.samples_per_call, p.k - call * p.samples_per_call),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            stop=(stop,),
            seed=seeds[call],
        )
        for call in range(calls)
    ]


# --- equations --------------------------------------------------------------------------

ANNOTATION = re.compile(r"<<([^>]*)>>")  # the authors' pattern
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_TERM = rf"\(*\s*-?\$?(?:{_NUM})\s*\)*"
_OP = r"\s*(?:\*\*|[-+*/×÷^]|(?<=\s)[xX](?=\s))\s*"
PLAIN_EQUATION = re.compile(
    rf"(?<![\w.,$\-)])({_TERM}(?:{_OP}{_TERM})+)\s*=\s*(-?\$?\s?(?:{_NUM}))(?![\d\w])"
)
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


class NotArithmetic(ValueError):
    """The expression is not pure arithmetic on numbers."""


def evaluate(expression: str) -> float:
    """The value of a pure-arithmetic expression (numbers, + - * / // % **, parentheses).

    Parsed with ``ast`` and evaluated node by node; anything else (names, calls,
    attributes, huge powers) raises ``NotArithmetic``; so do division by zero and overflow.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise NotArithmetic(f"not an expression: {expression!r}") from exc
    try:
        value = _eval(tree.body)
    except (ZeroDivisionError, OverflowError) as exc:
        raise NotArithmetic(f"{expression!r}: {exc}") from exc
    return float(value)


def _eval(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise NotArithmetic(f"exponent {right} too large")
            return float(left) ** float(right)
        if type(node.op) in _BINARY:
            return _BINARY[type(node.op)](left, right)
    raise NotArithmetic(f"not arithmetic: {ast.dump(node)[:60]}")


def _number(text: str) -> float:
    return float(text.replace("$", "").replace(",", "").replace(" ", ""))


@dataclass(frozen=True)
class Equation:
    """One equation of a path: ``expr = value`` as written, and whether it holds."""

    expr: str
    value: str
    ok: bool
    kind: str  # "annotation" (<<expr=value>>) or "text" (a * b = c in the prose)

    @property
    def key(self) -> str:
        return f"{self.expr}={self.value}".replace(" ", "")

    def as_dict(self) -> dict[str, Any]:
        return {"expr": self.expr, "value": self.value, "ok": self.ok, "kind": self.kind}


def check_annotation(content: str) -> Equation:
    """A calculator annotation ``expr=value`` (split at ``=`` as the authors do)."""
    parts = content.split("=")
    if len(parts) < 2:
        return Equation(content, "", False, "annotation")
    expr, value = parts[0], parts[1]
    return Equation(expr.strip(), value.strip(), _holds(expr, value), "annotation")


def _holds(expr: str, value: str) -> bool:
    try:
        return abs(evaluate(_python_arithmetic(expr)) - _number(value)) < TOLERANCE
    except ValueError:  # NotArithmetic, or a right side that is not a number
        return False


def _python_arithmetic(expr: str) -> str:
    """Written arithmetic as Python: no $ or thousands commas; ×, ÷, x, ^ as operators."""
    expr = expr.replace("$", "")
    expr = re.sub(r"(?<=\d),(?=\d{3})", "", expr)
    expr = expr.replace("×", "*").replace("÷", "/").replace("^", "**")
    return re.sub(r"(?<=\s)[xX](?=\s)", "*", expr)


def _balanced(expr: str) -> str:
    """Drop the unmatched parentheses a prose match can pick up at its ends."""
    expr = expr.strip()
    while expr.startswith("(") and expr.count("(") > expr.count(")"):
        expr = expr[1:].strip()
    while expr.endswith(")") and expr.count(")") > expr.count("("):
        expr = expr[:-1].strip()
    return expr


def find_equations(text: str) -> list[Equation]:
    """Every equation of ``text``: the ``<<expr=value>>`` annotations, then (with the
    annotations removed) the pure-arithmetic ``a op b = c`` written in the prose.

    A prose match that is not arithmetic after all (e.g. unbalanced parentheses) is not
    an equation; an annotation that does not evaluate fails, as in the authors' check.
    """
    equations = [check_annotation(m) for m in ANNOTATION.findall(text)]
    prose = ANNOTATION.sub("\x00", text)  # "48/2 = <<48/2=24>>24" is one equation, not two
    for match in PLAIN_EQUATION.finditer(prose):
        expr, value = _balanced(match.group(1)), match.group(2).strip()
        try:
            left = evaluate(_python_arithmetic(expr))
        except NotArithmetic:
            continue
        ok = abs(left - _number(value)) < TOLERANCE
        equations.append(Equation(expr, value, ok, "text"))
    return equations


def equation_key(equations: list[Equation]) -> str:
    """The dedup key of a path: its equations joined by ``|``, spaces removed."""
    return "|".join(eq.key for eq in equations)


# --- edit distance and dedup ------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance of two strings (bit-parallel, Myers/Hyyrö: O(len(a) * len(b)/w))."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    masks: dict[str, int] = {}
    for i, char in enumerate(b):
        masks[char] = masks.get(char, 0) | (1 << i)
    full, high = (1 << m) - 1, 1 << (m - 1)
    pv, mv, score = full, 0, m
    for char in a:
        eq = masks.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
    return score


@dataclass
class Kept:
    """The distinct paths kept so far, by equation key (in first-seen key order)."""

    keys: list[str] = field(default_factory=list)
    paths: list[Any] = field(default_factory=list)
    text: Callable[[Any], str] = str

    def offer(self, key: str, path: Any) -> Any | None:
        """Add ``path`` under ``key``; returns the path that lost (None if none did).

        On a collision the winner is the path whose sum of edit distances to the *other*
        kept paths is larger; the incumbent stays on a tie.
        """
        if key not in self.keys:
            self.keys.append(key)
            self.paths.append(path)
            return None
        slot = self.keys.index(key)
        incumbent = self.paths[slot]
        others = [self.text(p) for i, p in enumerate(self.paths) if i != slot]
        now_score = sum(edit_distance(self.text(incumbent), ref) for ref in others)
        new_score = sum(edit_distance(self.text(path), ref) for ref in others)
        if new_score > now_score:
            self.paths[slot] = path
            return incumbent
        return path


def dedup_paths(paths: list[str]) -> list[str]:
    """The paths kept by RFT's dedup rule (each path's key from :func:`find_equations`)."""
    kept = Kept()
    for path in paths:
        kept.offer(equation_key(find_equations(path)), path)
    return kept.paths


# --- the step ---------------------------------------------------------------------------


class SampleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(100, ge=1)  # reasoning paths per question (paper: 100)
    temperature: float = Field(0.7, ge=0, le=2)  # paper: 0.7
    max_tokens: int = Field(512, ge=16)
    samples_per_call: int = Field(100, ge=1, le=128)  # n per request; 1: one request each
    few_shot: bool = True  # GSM8K-format exemplars (an RFT SFT model needs none)
    include_gold: bool = True  # add the row's ``solution`` as a record, as RFT does
    # the reference reads only a stated answer ("The answer is" / ####); True: a bare last number too
    last_number_fallback: bool = False


@dataclass
class Sample:
    index: int
    text: str
    request: ChatRequest


@register("rft.sample", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class RFTSample(MapStep):
    """RFT: k sampled paths, keep correct ones with valid equations, dedup by equation list."""

    Params = SampleParams
    reads = ("question", "answer")
    writes = ("query", "response", "rft_key", "rft_equations", "rft_from", "verification")
    uses_llm = True

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        prompt = render(__file__, "rft_sample.j2", question=row["question"], few_shot=p.few_shot)
        seeds = [ctx.seed(row[META]["id"], call) for call in range(p.k)]
        return sample_requests(prompt, p, stop="\nQuestion:", seeds=seeds)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm = ctx.require_llm()
        requests = self.requests(row, ctx)
        completions = await asyncio.gather(*(llm.complete(r) for r in requests))
        samples: list[Sample] = []
        for request, completion in zip(requests, completions, strict=True):
            for choice in completion.choices[: request.n]:
                samples.append(Sample(len(samples), choice.text.strip(), request))
        return self.select(row, samples, ctx)

    def select(
        self, row: dict[str, Any], samples: list[Sample], ctx: StepContext
    ) -> list[dict[str, Any]]:
        """One record per sample, in sample order: kept (correct, valid equations, distinct)
        or dropped (an error row with the reason); then the gold path."""
        gold = str(row["answer"])
        fallback = self.params.last_number_fallback
        verdicts = {s.index: answer_verdict(s.text, gold, fallback) for s in samples}
        equations = {s.index: find_equations(s.text) for s in samples}
        reasons: dict[int, tuple[str, str]] = {}
        kept = Kept(text=lambda s: s.text)
        for sample in samples:
            bad = [eq for eq in equations[sample.index] if not eq.ok]
            if not verdicts[sample.index]["verified"]:
                reasons[sample.index] = ("wrong_answer", "the final answer is not the gold answer")
            elif bad:
                reasons[sample.index] = (
                    "bad_equation",
                    f"equation does not hold: {bad[0].expr} = {bad[0].value}",
                )
            elif (loser := kept.offer(equation_key(equations[sample.index]), sample)) is not None:
                reasons[loser.index] = (
                    "duplicate_path",
                    "same equation list as a kept path and less different from the others",
                )
        records = []
        for sample in samples:
            if sample.index in reasons:
                kind, message = reasons[sample.index]
                fields = {"response": sample.text, "verification": verdicts[sample.index]}
                records.append(dropped(self, row, kind, message, sample.index, fields))
            else:
                fields = self._record(
                    row, sample.text, equations[sample.index], verdicts[sample.index], "sample"
                )
                records.append(self.derived(row, fields, ctx, [sample.request], index=sample.index))
        solution = row.get("solution")
        if self.params.include_gold and isinstance(solution, str) and solution.strip():
            fields = self._record(
                row,
                solution,
                find_equations(solution),
                answer_verdict(solution, gold, fallback),
                "gold",
            )
            records.append(self.derived(row, fields, ctx, [], index="gold"))
        return records

    @staticmethod
    def _record(
        row: dict[str, Any],
        text: str,
        equations: list[Equation],
        verification: dict[str, Any],
        origin: str,
    ) -> dict[str, Any]:
        return {
            "query": row["question"],
            "response": text,
            "rft_key": equation_key(equations),
            "rft_equations": [eq.as_dict() for eq in equations],
            "rft_from": origin,
            "verification": verification,
        }
