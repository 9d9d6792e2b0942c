"""LMSI, Large Language Models Can Self-Improve (Huang et al., 2022, arXiv 2210.11610).

LMSI improves a model without labels: for each **unlabelled question** it samples
**m = 32 reasoning paths** with a few-shot chain-of-thought prompt at **temperature 0.7**,
takes the **majority answer** (self-consistency, Wang et al., 2022), keeps **every path that
reaches it** ("high-confidence" rationale-augmented answers) and fine-tunes the same model on
them. To keep the tuned model from over-fitting one prompt style, each kept path is stored
in **four formats**: few-shot CoT (exemplars with rationales, then the question; target the
path), few-shot direct (exemplars with answers only; target the answer), zero-shot CoT
(the question and "Let's think step by step."; target the path) and zero-shot direct (the
question; target the answer).

``lmsi.self_consistency`` samples ``paths`` reasoning paths per row's ``question`` (the
row's ``answer``, if any, is never used to choose: it is only compared afterwards, as
``majority_correct``), with STaR's few-shot rationale prompt (six GSM-style exemplars ending
"The answer is N."), reads each path's stated answer (``synthaug.verify.math_answer``),
votes on the normalised answers and keeps the paths whose answer matches the majority:
records ``question, rationale, answer`` (the majority answer), ``votes`` ({answer: count}),
``consistency`` (majority count / paths with an answer) and ``path``. Every other path ends
in the errors file as ``minority_answer`` or ``no_answer``; a tie for the majority keeps the
answer first reached. ``lmsi.formats`` (no model call) writes the four formats of each kept
path: ``format``, ``prompt``, ``completion``.

Different: the paper's exemplars are Wei et al.'s (here STaR's six, our own text), and its
model is PaLM-540B; samples come ``samples_per_call`` at a time through the request's ``n``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest
from ...records import META, derive
from ...verify.math_answer import answers_match, normalize, stated_answer
from ..common.rows import dropped
from ..registry import register
from .star import SHOTS, star_prompt

PAPER = "Huang et al., 2022, Large Language Models Can Self-Improve (arXiv 2210.11610)"
TAXONOMY = "synthesis / self-improvement (self-consistent reasoning paths, no labels)"
STAGE = "reasoning (SFT data)"
ZERO_SHOT_COT = "Let's think step by step."
Format = Literal["few_shot_cot", "few_shot_direct", "zero_shot_cot", "zero_shot_direct"]
FORMATS: tuple[Format, ...] = (
    "few_shot_cot",
    "few_shot_direct",
    "zero_shot_cot",
    "zero_shot_direct",
)


def majority(answers: list[str | None]) -> tuple[str | None, dict[str, int]]:
    """The most frequent answer and the votes: answers that ``answers_match`` (``12``,
    ``$12``, ``12.0``) count as one, under the normalised form of the first of them; a tie
    goes to the answer reached first."""
    votes: dict[str, int] = {}
    for answer in answers:
        if answer is None:
            continue
        same = next((key for key in votes if answers_match(answer, key)), None)
        key = same if same is not None else normalize(answer)
        votes[key] = votes.get(key, 0) + 1
    if not votes:
        return None, {}
    return max(votes, key=lambda key: votes[key]), votes


class SelfConsistencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question_column: str = "question"
    paths: int = Field(32, ge=1, le=256)  # the paper: m = 32
    temperature: float = Field(0.7, ge=0, le=2)  # the paper: 0.7
    max_tokens: int = Field(256, ge=16)
    samples_per_call: int = Field(8, ge=1, le=128)  # n per request
    last_number_fallback: bool = False  # only a stated answer ("The answer is N") counts


@register("lmsi.self_consistency", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class SelfConsistency(MapStep):
    """LMSI: m sampled CoT paths per unlabelled question; keep those reaching the majority answer."""

    Params = SelfConsistencyParams
    writes = ("rationale", "answer", "votes", "consistency", "path", "majority_correct")
    uses_llm = True

    def input_columns(self) -> set[str]:
        return {self.params.question_column}

    def requests(self, question: str, ctx: StepContext, row_id: str) -> list[ChatRequest]:
        p = self.params
        sizes = [
            min(p.samples_per_call, p.paths - start)
            for start in range(0, p.paths, p.samples_per_call)
        ]
        return [
            ChatRequest(
                prompt=star_prompt(question),
                n=size,
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                stop=("\nQ:", "\n\n"),
                seed=ctx.seed(row_id, "paths", call),
            )
            for call, size in enumerate(sizes)
        ]

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id, llm = self.params, row[META]["id"], ctx.require_llm()
        question = str(row[p.question_column])
        requests = self.requests(question, ctx, row_id)
        texts = [
            choice.text.strip()
            for request in requests
            for choice in (await llm.complete(request)).choices[: request.n]
        ]
        answers = [stated_answer(text, p.last_number_fallback)[0] for text in texts]
        winner, votes = majority(answers)
        counted = sum(votes.values())
        gold = row.get("answer")
        correct = None if gold is None or winner is None else answers_match(winner, str(gold))
        out = []
        for i, (text, answer) in enumerate(zip(texts, answers, strict=True)):
            if answer is None or winner is None or not answers_match(answer, winner):
                kind = "no_answer" if answer is None else "minority_answer"
                message = f"path {i} states {answer!r}; the majority answer is {winner!r}"
                out.append(dropped(self, row, kind, message, i, {"rationale": text}))
                continue
            fields = {
                "rationale": text,
                "answer": winner,
                "votes": votes,
                "consistency": round(votes[winner] / counted, 4),
                "path": i,
                "majority_correct": correct,
            }
            out.append(self.derived(row, fields, ctx, requests, index=i))
        return out


def few_shot(direct: bool) -> str:
    """The exemplar block: each exemplar's question and its rationale (or only its answer)."""
    return "".join(
        f"Q: {s['question']}\nA: {'' if direct else s['rationale'] + ' '}The answer is "
        f"{s['answer']}.\n\n"
        for s in SHOTS
    )


def formats(question: str, rationale: str, answer: str) -> dict[str, tuple[str, str]]:
    """LMSI's four (prompt, completion) formats of one kept path."""
    direct = f"The answer is {answer}."
    return {
        "few_shot_cot": (f"{few_shot(False)}Q: {question}\nA:", f" {rationale}"),
        "few_shot_direct": (f"{few_shot(True)}Q: {question}\nA:", f" {direct}"),
        "zero_shot_cot": (f"Q: {question}\nA: {ZERO_SHOT_COT}", f" {rationale}"),
        "zero_shot_direct": (f"Q: {question}\nA:", f" {direct}"),
    }


class FormatsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question_column: str = "question"
    formats: list[Format] = Field(default_factory=lambda: list(FORMATS), min_length=1)


@register("lmsi.formats", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Formats(MapStep):
    """LMSI: each kept path in four training formats (few-/zero-shot, CoT/direct)."""

    Params = FormatsParams
    reads = ("rationale", "answer")
    writes = ("format", "prompt", "completion")

    def input_columns(self) -> set[str]:
        return {self.params.question_column, "rationale", "answer"}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        shaped = formats(str(row[self.params.question_column]), row["rationale"], row["answer"])
        return [
            derive(
                row,
                {"format": name, "prompt": shaped[name][0], "completion": shaped[name][1]},
                step=self.name,
                method=self.method,
                index=k,
            )
            for k, name in enumerate(self.params.formats)
        ]
