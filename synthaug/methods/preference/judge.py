"""Self-Rewarding LM-as-a-judge (Yuan et al., 2024, "Self-Rewarding Language Models",
arXiv 2401.10020).

The model that writes the responses also judges them: an **additive 5-point rubric** (one
point per criterion met: relevant; covers a substantial part; answers the basic elements
usefully; clearly written from an AI assistant's view, direct and well organized; impeccably
tailored, expert and insightful), a brief justification of at most 100 words and a final line
``Score: <points>``. Each response is scored **3 times** (``samples``) and the scores are
averaged; the paper samples responses at temperature 0.7, top-p 0.9 and states no separate
judge setting, so the judge samples use the same (0.7 / 0.9). Pairs for DPO are then the
highest- against the lowest-scored response of a prompt; prompts whose two are equal are
dropped.

``judge.pointwise`` scores every completion of a row's ``completions`` (or the row's single
``response`` when it has none). The reply is decoded under a GBNF grammar, a justification of
at most ``justification_chars`` characters on one line, then ``"\\nScore: "`` and one digit
0-5, so it always parses and fits ``max_tokens``; ``constrained: false`` sends the prompt
plain (for backends without GBNF) and relies on ``parse_score``. Several judges (``judges``,
names of the recipe's backends) are averaged: ``completion["judge"] = {"scores": every parsed
sample of every judge, "by_judge": {model: mean}, "justifications", "unparsed"}`` and
``completion["score"]`` = the mean of the judges' means (None when no sample parsed; a row
where no completion got a score is dropped as ``no_score``).

``self_rewarding.pairs`` (no model call) turns scored rows into preference pairs: chosen =
the first highest-scored completion, rejected = the first lowest-scored; dropped as ``tied``
when they are equal, ``too_few_scored`` when fewer than two completions have a score.

The paper's judge is Llama-2-70B fine-tuned on judge data (EFT).
"""

from __future__ import annotations

import asyncio
import re
from statistics import mean
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META, derive
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import INDEX_COLUMNS, PAIR_COLUMNS, completion_pairs, scored

PAPER = "Yuan et al., 2024, Self-Rewarding Language Models (arXiv 2401.10020)"
TAXONOMY = "synthesis / self-improvement (LLM-as-a-judge rewards)"
STAGE = "preference alignment"

# the rubric's final line, the paper's format; the last one in a reply counts
SCORE_LINE = re.compile(r"score(?:\s+of)?[\s:=*]{0,6}([0-5])(?!\.?\d)", re.IGNORECASE)
OUT_OF_FIVE = re.compile(r"(?<![\d.])([0-5])\s*(?:/\s*5|out\s+of\s+(?:5|five))(?!\d)", re.I)


def judge_grammar(justification_chars: int) -> str:
    """GBNF: a one-line justification of 1..``justification_chars`` characters, then
    ``\\nScore: `` and one digit 0-5."""
    return f'root ::= [^\\n]{{1,{justification_chars}}} "\\nScore: " [0-5]'


def parse_score(text: str) -> int | None:
    """The points (0-5) a judge reply gives: its last ``Score: k``, else its last ``k/5`` or
    ``k out of 5``; None when it states none."""
    for pattern in (SCORE_LINE, OUT_OF_FIVE):
        found = pattern.findall(text)
        if found:
            return int(found[-1])
    return None


def justification_of(text: str) -> str:
    """The reply without its final score line."""
    lines = text.strip().splitlines()
    if lines and SCORE_LINE.search(lines[-1]):
        lines = lines[:-1]
    return "\n".join(lines).strip()


class PointwiseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    samples: int = Field(3, ge=1, le=16)  # the paper scores each response 3 times
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.9, ge=0, le=1)
    max_tokens: int = Field(192, ge=8)
    justification_chars: int = Field(500, ge=1)  # ~100 words; keep it within max_tokens
    constrained: bool = True  # GBNF grammar; false for backends that take none
    judges: list[str] = Field(default_factory=lambda: ["default"], min_length=1)


@register("judge.pointwise", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pointwise(MapStep):
    """Self-Rewarding judge: additive 5-point score of each completion, 3 samples averaged."""

    Params = PointwiseParams
    writes = ("judge", "score")
    uses_llm = True
    backend_params = ("judges",)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        if "completions" in input_columns:
            return input_columns
        return input_columns | set(self.writes)

    def request(self, prompt: str, response: str, seed: int) -> ChatRequest:
        p = self.params
        return chat(
            ("user", render(__file__, "judge_pointwise.j2", prompt=prompt, response=response)),
            n=p.samples,
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            grammar=judge_grammar(p.justification_chars) if p.constrained else None,
            seed=seed,
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id = self.params, row[META]["id"]
        single = "completions" not in row
        completions = [{"response": row.get("response", "")}] if single else row["completions"]
        if not completions:
            return [dropped(self, row, "no_completions", "the row has no completions", "none")]
        judges = [(name, ctx.require_llm(name)) for name in p.judges]
        prompt = str(row[p.prompt_column])
        jobs = [
            (client, self.request(prompt, str(c["response"]), ctx.seed(row_id, "judge", i, name)))
            for i, c in enumerate(completions)
            for name, client in judges
        ]
        replies = await asyncio.gather(*(client.complete(r) for client, r in jobs))
        models = [client.backend.describe() for _, client in judges]
        texts = [[choice.text for choice in reply.choices[: p.samples]] for reply in replies]
        k = len(judges)
        judged = [
            {**c, **judgement(models, texts[i * k : (i + 1) * k])}
            for i, c in enumerate(completions)
        ]
        fields = {key: judged[0][key] for key in self.writes} if single else {"completions": judged}
        if all(c["score"] is None for c in judged):
            message = "no judge reply of any completion states a score"
            return [dropped(self, row, "no_score", message, "none", fields)]
        record = derive(
            row,
            fields,
            step=self.name,
            method=self.method,
            models=sorted(set(models)),
            request=[client.key(r) for client, r in jobs],
        )
        return [record]


def judgement(models: list[str], texts: list[list[str]]) -> dict[str, Any]:
    """``judge`` and ``score`` of one completion from each judge's sampled replies."""
    means: dict[str, float] = {}
    scores: list[int] = []
    justifications: list[str] = []
    unparsed = 0
    for j, (model, replies) in enumerate(zip(models, texts, strict=True)):
        points = [parse_score(text) for text in replies]
        found = [s for s in points if s is not None]
        unparsed += len(points) - len(found)
        scores += found
        justifications += [
            justification_of(t) for t, s in zip(replies, points, strict=True) if s is not None
        ]
        if found:
            means[model if model not in means else f"{model}#{j}"] = mean(found)
    score = round(mean(means.values()), 4) if means else None
    judge = {
        "scores": scores,
        "by_judge": {model: round(m, 4) for model, m in means.items()},
        "justifications": justifications,
        "unparsed": unparsed,
    }
    return {"judge": judge, "score": score}


class PairsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"


@register("self_rewarding.pairs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pairs(MapStep):
    """Self-Rewarding pairs: highest- vs lowest-scored completion; equal scores dropped."""

    Params = PairsParams
    reads = ("completions",)
    writes = ("instruction", *PAIR_COLUMNS, *INDEX_COLUMNS)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions"}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"completions"}) | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        completions = row["completions"]
        items = scored(completions, "score")
        if len(items) < 2:
            message = f"{len(items)} of {len(completions)} completions have a score"
            return [dropped(self, row, "too_few_scored", message, "none")]
        best = max(items, key=lambda item: item[1])
        worst = min(items, key=lambda item: item[1])
        if best[1] == worst[1]:
            message = f"every scored completion has the same score ({best[1]})"
            return [dropped(self, row, "tied", message, "none")]
        instruction = {"instruction": row[self.params.prompt_column]}
        return completion_pairs(self, row, [(best[0], worst[0])], "score", lambda a, b: instruction)
