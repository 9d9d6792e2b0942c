"""Nectar K-wise ranking (Zhu et al., 2023, "Starling-7B: Improving LLM Helpfulness &
Harmlessness with RLAIF"; the Nectar dataset card, berkeley-nest/Nectar).

Nectar gives each prompt **7 responses** from different models and has GPT-4 sort them into
one **7-wise ranking** under a helpfulness rubric and a harmlessness rubric (harmlessness
first; helpfulness decides among harmless answers). The ranking yields 21 pairwise
comparisons per prompt (3.8M in all), on which Starling-RM-7B is trained with a K-wise loss.
GPT-4 favours the response shown first, so Nectar **shuffles the order** in which the
responses are shown.

``nectar.rank`` ranks the completions of a row's ``completions`` (``preference.responses``
writes them): it shows them under letters ``A``, ``B``, ... in ``shuffles`` random orders
(seeded per row; the first order is itself random), one judge call per order at temperature
0, and **aggregates** the rankings by mean position (Borda): ``rank`` 1 is the best mean
position, ties broken by the completion's index. The reply is decoded under a GBNF grammar
whose sentences are exactly the permutations of the letters (``"C > A > B"``; one rule per
subset of letters still unranked), so every reply is a complete ranking. Row field
``rankings``: per shuffle the ``order`` shown (completion indices by letter), the ``raw``
letters as answered and the ``ranking`` mapped back to completion indices, best first; each
completion gets ``rank`` and ``mean_rank``.

``nectar.pairs`` (no model call) turns a ranked row into preference pairs: every pair of
completions (``pairs: all``, Nectar's 21 for 7 responses) or the best against the worst,
chosen = the better rank; equal mean positions give no pair.

Different: Nectar shows one random order per prompt (``shuffles: 1`` is that); aggregating
several shuffles is this module's stronger position debiasing (the recipe uses 3). The
Nectar prompt has GPT-4 write pairwise comparisons of all pairs before the ranking; here the
judge writes the ranking only (a small judge cannot fit 21 comparisons), and the rubric is a
paraphrase of the card's excerpt. The authors' judge is GPT-4.
"""

from __future__ import annotations

import asyncio
import random
import string
from itertools import combinations
from statistics import mean
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import INDEX_COLUMNS, PAIR_COLUMNS, completion_pairs, prompt_text

PAPER = "Zhu et al., 2023, Starling-7B / Nectar: GPT-4 7-wise rankings (RLAIF)"
TAXONOMY = "synthesis / AI feedback (K-wise rankings of many models' responses)"
STAGE = "preference alignment"
SEPARATOR = " > "
LABELS = string.ascii_uppercase


def permutation_grammar(labels: str) -> str:
    """GBNF whose sentences are the permutations of ``labels`` joined by ``" > "``: one rule
    per set of letters still to place (2^k rules, not k! sentences)."""
    rules: dict[str, str] = {}

    def rule(rest: str) -> str:
        name = "r" + rest
        if name not in rules:
            rules[name] = " | ".join(
                f'"{label}"'
                if len(rest) == 1
                else f'"{label}{SEPARATOR}" {rule(rest.replace(label, ""))}'
                for label in rest
            )
        return name

    top = rule(labels)
    return "\n".join([f"root ::= {top}", *(f"{name} ::= {body}" for name, body in rules.items())])


def parse_ranking(text: str, labels: str) -> list[str] | None:
    """The letters of a ranking reply, best first; None unless each letter appears once."""
    letters = [part.strip().strip("[]") for part in text.strip().split(">")]
    return letters if sorted(letters) == sorted(labels) else None


def ranking_request(
    module: str, template: str, prompt: str, responses: list[str], seed: int, **fields: Any
) -> ChatRequest:
    """A greedy request to rank ``responses`` shown under letters (``template`` beside
    ``module`` gets ``count``, ``prompt``, ``responses`` as (letter, text), ``example`` and
    ``fields``); the reply is a permutation of the letters (``permutation_grammar``)."""
    labels = LABELS[: len(responses)]
    text = render(
        module,
        template,
        count=len(responses),
        prompt=prompt,
        responses=list(zip(labels, responses, strict=True)),
        example=SEPARATOR.join(sorted(labels, key=lambda x: (x != labels[-1], x))),
        **fields,
    )
    return chat(
        ("user", text),
        temperature=0,
        max_tokens=4 * len(labels),
        grammar=permutation_grammar(labels),
        seed=seed,
    )


def aggregate(rankings: list[list[int]], count: int) -> tuple[list[float], list[int]]:
    """Mean position (1 = best) of each of ``count`` items over ``rankings`` (item indices,
    best first), and each item's aggregated rank (1 = best; ties by index)."""
    positions = [mean(r.index(i) + 1 for r in rankings) for i in range(count)]
    order = sorted(range(count), key=lambda i: (positions[i], i))
    ranks = [0] * count
    for place, i in enumerate(order, start=1):
        ranks[i] = place
    return [round(p, 4) for p in positions], ranks


class RankParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    shuffles: int = Field(1, ge=1, le=16)  # Nectar: one random order per prompt
    max_responses: int = Field(7, ge=2, le=12)  # Nectar ranks 7
    judge: str = "default"  # a name in the recipe's backends


@register("nectar.rank", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rank(MapStep):
    """Nectar: K-wise ranking of a prompt's completions under shuffled orders, aggregated."""

    Params = RankParams
    reads = ("completions",)
    writes = ("rankings",)
    uses_llm = True
    backend_params = ("judge",)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions"}

    def request(self, prompt: str, responses: list[str], seed: int) -> ChatRequest:
        return ranking_request(__file__, "nectar_rank.j2", prompt, responses, seed)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id, completions = self.params, row[META]["id"], row["completions"]
        prompt = prompt_text(row, p.prompt_column)
        if not 2 <= len(completions) <= p.max_responses:
            message = f"{len(completions)} completions; ranking takes 2 to {p.max_responses}"
            return [dropped(self, row, "completion_count", message, "none")]
        rng = random.Random(ctx.seed(row_id, "shuffle"))
        orders = [rng.sample(range(len(completions)), len(completions)) for _ in range(p.shuffles)]
        judge = ctx.require_llm(p.judge)
        requests = [
            self.request(
                prompt,
                [str(completions[i]["response"]) for i in order],
                ctx.seed(row_id, "rank", k),
            )
            for k, order in enumerate(orders)
        ]
        replies = await asyncio.gather(*(judge.complete(r) for r in requests))
        labels = LABELS[: len(completions)]
        rankings = []
        for k, (order, reply) in enumerate(zip(orders, replies, strict=True)):
            letters = parse_ranking(reply.text, labels)
            if letters is None:
                message = f"the ranking of shuffle {k} is not a permutation of {labels}"
                return [
                    dropped(self, row, "unparseable_ranking", message, k, {"reply": reply.text})
                ]
            ranking = [order[labels.index(letter)] for letter in letters]
            rankings.append({"order": order, "raw": letters, "ranking": ranking})
        positions, ranks = aggregate([r["ranking"] for r in rankings], len(completions))
        ranked = [
            {**c, "rank": rank, "mean_rank": position}
            for c, rank, position in zip(completions, ranks, positions, strict=True)
        ]
        fields = {"completions": ranked, "rankings": rankings}
        return [self.derived(row, fields, ctx, requests, llm=judge)]


class PairsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    pairs: Literal["all", "best_worst"] = "all"  # Nectar: every pair (21 of 7)


@register("nectar.pairs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pairs(MapStep):
    """Nectar pairs: every pair of ranked completions (or best vs worst), the better rank chosen."""

    Params = PairsParams
    reads = ("completions", "rankings")
    writes = ("instruction", *PAIR_COLUMNS, *INDEX_COLUMNS, "chosen_rank", "rejected_rank")

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions", "rankings"}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"completions", "rankings"}) | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        completions = row["completions"]
        best_first = sorted(range(len(completions)), key=lambda i: completions[i]["rank"])
        if self.params.pairs == "best_worst":
            candidates = [(best_first[0], best_first[-1])]
        else:
            candidates = list(combinations(best_first, 2))
        pairs = [
            (a, b)
            for a, b in candidates
            if completions[a]["mean_rank"] < completions[b]["mean_rank"]
        ]
        if not pairs:
            return [dropped(self, row, "tied", "every completion has the same mean rank", "none")]

        def extra(a: int, b: int) -> dict[str, Any]:
            return {
                "instruction": row[self.params.prompt_column],
                "chosen_rank": completions[a]["rank"],
                "rejected_rank": completions[b]["rank"],
            }

        return completion_pairs(self, row, pairs, None, extra, drop=("rankings",))
