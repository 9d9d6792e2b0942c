"""Pairwise AI feedback, RLAIF style (Bai et al., 2022, "Constitutional AI: Harmlessness from
AI Feedback", arXiv 2212.08073, RL-CAI), with the summarization rubric of Stiennon et al.,
2020 ("Learning to summarize from human feedback", arXiv 2009.01325).

RL-CAI shows a feedback model a prompt and two responses as a multiple-choice question,
"which response is more helpful, honest and harmless?", and takes the normalised
probabilities of the options (A) and (B) as **soft preference labels**. Stiennon et al.
collect comparisons of two summaries of one post ("which summary is better?", judged on
coverage, accuracy, coherence and concision) and train a reward model on them.

``judge.pairwise`` compares completions of a row's ``completions``: every pair (``pairs:
all``) or neighbours only (``adjacent``). Each pair is judged **in both orders**, so position
bias cancels out or shows: the reply is decoded under a grammar, ``A``, ``B`` (or ``tie`` with
``allow_tie``), greedily; with ``logprobs`` (the local backend and llama.cpp servers return
the model's own first-token distribution, before the grammar) ``p(first)`` =
p(A) / (p(A) + p(B)), the RL-CAI soft label. Row field ``comparisons``: per pair ``a``, ``b``
(completion indices, a < b), ``model_a``, ``model_b``, ``judge_model``, ``verdicts`` (order 1
with ``a`` shown first, order 2 with ``b`` first, both mapped back to a/b: ``"A"`` = a is
better), ``raw_verdicts`` (the letters as answered), ``winner`` (``a``, ``b`` or ``tie`` when
both orders agree, else ``inconsistent``), ``p_a`` (mean of p(a) over the two orders; None
without log-probabilities). Rubrics: ``general`` (helpful, honest, harmless; RL-CAI's
principle wording, one principle rather than the paper's 16-principle ensemble, no few-shot
exemplars) and ``summarization`` (Stiennon et al.'s four qualities).

``pairwise.pairs`` (no model call) turns each decided comparison into a preference pair
(chosen = the winner; ``p_chosen`` its soft label); ties and inconsistent comparisons are
error rows of kinds ``tie`` and ``inconsistent``, so the summary counts them.

The paper's feedback model is a 52B model (and Stiennon's labels are human).
"""

from __future__ import annotations

import asyncio
import math
from abc import abstractmethod
from collections.abc import Callable
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, Completion, chat
from ...records import META, derive
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import INDEX_COLUMNS, PAIR_COLUMNS, pair_fields, prompt_text, without
from .winrates import GROUPINGS

PAPER = "Bai et al., 2022, Constitutional AI (arXiv 2212.08073): RL-CAI pairwise AI feedback"
TAXONOMY = "synthesis / AI feedback (pairwise preference labels)"
STAGE = "preference alignment"
MAPPED = {"A": "B", "B": "A", "tie": "tie"}  # a verdict of the swapped order, mapped back
WINNER = {"A": "a", "B": "b", "tie": "tie"}


def verdict_grammar(allow_tie: bool) -> str:
    """GBNF: the letter of the better item, or ``tie``."""
    return 'root ::= "A" | "B"' + (' | "tie"' if allow_tie else "")


def soft_preference(completion: Completion) -> float | None:
    """RL-CAI's soft label p(A) / (p(A) + p(B)) from the first answer token's top
    log-probabilities; None when either letter is missing from them."""
    tokens = completion.choices[0].logprobs if completion.choices else None
    if not tokens:
        return None
    found: dict[str, float] = {}
    for entry in tokens[0].top_logprobs:
        letter = entry["token"].strip()
        if letter in ("A", "B") and letter not in found:
            found[letter] = entry["logprob"]
    if len(found) < 2:
        return None
    return 1 / (1 + math.exp(found["B"] - found["A"]))


def parse_verdict(text: str) -> str | None:
    """``A``, ``B`` or ``tie`` from a (grammar-constrained) reply; None otherwise."""
    reply = text.strip().strip("().").strip()
    if reply in ("A", "B"):
        return reply
    return "tie" if reply.lower() == "tie" else None


def comparison(
    verdicts: tuple[str, str], soft: tuple[float | None, float | None]
) -> dict[str, Any]:
    """Both orders' raw verdicts (order 1: a first) and soft labels, mapped back to a/b."""
    mapped = [verdicts[0], MAPPED[verdicts[1]]]
    winner = WINNER[mapped[0]] if mapped[0] == mapped[1] else "inconsistent"
    first, second = soft
    p_a = None if first is None or second is None else round((first + 1 - second) / 2, 4)
    return {"verdicts": mapped, "raw_verdicts": list(verdicts), "winner": winner, "p_a": p_a}


def compared_pairs(
    completions: list[dict[str, Any]],
    indices: list[tuple[int, int]],
    replies: list[Completion],
    judge_model: str,
) -> list[dict[str, Any]] | tuple[tuple[int, int], list[str]]:
    """The comparison of each pair ``(a, b)`` of ``indices`` from its two replies (``replies``
    holds order 1 then order 2 of each pair, in turn): both sides' groupings, the judge
    model and ``comparison``'s fields. A pair whose verdict does not parse is returned
    instead, with its two reply texts."""
    comparisons = []
    for k, (a, b) in enumerate(indices):
        first, second = replies[2 * k], replies[2 * k + 1]
        verdicts = (parse_verdict(first.text), parse_verdict(second.text))
        if verdicts[0] is None or verdicts[1] is None:
            return (a, b), [first.text, second.text]
        comparisons.append(
            {
                "a": a,
                "b": b,
                **{
                    f"{by}_{side}": completions[x].get(by)
                    for by in GROUPINGS
                    for side, x in (("a", a), ("b", b))
                },
                "judge_model": judge_model,
                **comparison(verdicts, (soft_preference(first), soft_preference(second))),
            }
        )
    return comparisons


def pair_indices(n: int, how: str) -> list[tuple[int, int]]:
    """Every pair of ``n`` items (``all``) or the neighbours (``adjacent``), a < b."""
    if how == "adjacent":
        return [(i, i + 1) for i in range(n - 1)]
    return list(combinations(range(n), 2))


def verdict_request(
    text: str, allow_tie: bool, logprobs: bool, top_logprobs: int, seed: int
) -> ChatRequest:
    """A greedy judge request for ``text`` whose reply is ``A``, ``B`` (or ``tie``), with the
    first token's top log-probabilities when ``logprobs``."""
    return chat(
        ("user", text),
        temperature=0,
        max_tokens=3,
        grammar=verdict_grammar(allow_tie),
        logprobs=logprobs,
        top_logprobs=top_logprobs if logprobs else 0,
        seed=seed,
    )


def both_orders(
    completions: list[dict[str, Any]],
    indices: list[tuple[int, int]],
    make: Callable[[str, str, tuple[int, int, int]], ChatRequest],
) -> list[ChatRequest]:
    """``make(first, second, (a, b, order))`` for each pair, ``a`` shown first then ``b``."""
    return [
        make(str(completions[x]["response"]), str(completions[y]["response"]), (a, b, order))
        for a, b in indices
        for order, (x, y) in enumerate([(a, b), (b, a)])
    ]


class BothOrders(MapStep):
    """A judge that compares pairs of a row's completions, each pair in both orders, into
    ``comparisons`` (``compared_pairs``). A subclass writes ``judge_text`` and may add
    per-row fields (``row_fields``) that the text can use; its params name
    ``prompt_column``, ``logprobs``, ``top_logprobs`` and ``judge`` (and may name ``pairs``
    and ``allow_tie``)."""

    reads = ("completions",)
    writes = ("comparisons",)
    uses_llm = True
    backend_params = ("judge",)

    @abstractmethod
    def judge_text(self, prompt: str, first: str, second: str, fields: dict[str, Any]) -> str:
        """The judge prompt for one order of one pair."""

    def row_fields(self, row: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        """Fields of the row's record that ``judge_text`` sees (none by default)."""
        return {}

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions"}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id, completions = self.params, row[META]["id"], row["completions"]
        allow_tie = getattr(p, "allow_tie", False)
        indices = pair_indices(len(completions), getattr(p, "pairs", "all"))
        if not indices:
            message = f"{len(completions)} completion(s): nothing to compare"
            return [dropped(self, row, "too_few_completions", message, "none")]
        judge, prompt, fields = (
            ctx.require_llm(p.judge),
            prompt_text(row, p.prompt_column),
            self.row_fields(row, ctx),
        )
        requests = both_orders(
            completions,
            indices,
            lambda first, second, where: verdict_request(
                self.judge_text(prompt, first, second, fields), allow_tie, p.logprobs,
                p.top_logprobs, ctx.seed(row_id, "compare", *where),
            ),
        )  # fmt: skip
        replies = await asyncio.gather(*(judge.complete(r) for r in requests))
        comparisons = compared_pairs(completions, indices, replies, judge.backend.describe())
        if isinstance(comparisons, tuple):
            (a, b), texts = comparisons
            message = f"a verdict on completions {a} and {b} does not parse"
            return [
                dropped(
                    self, row, "unparseable_verdict", message, f"{a}-{b}", {"judge_replies": texts}
                )
            ]
        return [self.derived(row, {"comparisons": comparisons, **fields}, ctx, requests, llm=judge)]


class PairwiseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    pairs: Literal["all", "adjacent"] = "all"
    rubric: Literal["general", "summarization"] = "general"
    allow_tie: bool = True
    logprobs: bool = True  # ask for the soft label; false for backends that return none
    top_logprobs: int = Field(20, ge=2, le=20)
    judge: str = "default"  # a name in the recipe's backends


@register("judge.pairwise", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pairwise(BothOrders):
    """RLAIF pairwise judge: each pair of completions in both orders, A/B/tie and soft p(A)."""

    Params = PairwiseParams

    def judge_text(self, prompt: str, first: str, second: str, fields: dict[str, Any]) -> str:
        p = self.params
        return render(
            __file__,
            f"pairwise_{p.rubric}.j2",
            prompt=prompt,
            first=first,
            second=second,
            allow_tie=p.allow_tie,
        )


class PairsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"


@register("pairwise.pairs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pairs(MapStep):
    """Pairwise comparisons to preference pairs: the winner chosen; ties, inconsistent skipped."""

    Params = PairsParams
    reads = ("completions", "comparisons")
    writes = ("instruction", *PAIR_COLUMNS, *INDEX_COLUMNS, "p_chosen", "comparison")

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions", "comparisons"}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"completions", "comparisons"}) | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        completions = row["completions"]
        parent = without(row, "completions", "comparisons")
        records = []
        for k, compared in enumerate(row["comparisons"]):
            winner, a, b = compared["winner"], compared["a"], compared["b"]
            if winner in ("tie", "inconsistent"):
                message = f"completions {a} and {b}: verdicts {compared['verdicts']}"
                records.append(dropped(self, parent, winner, message, k, {"comparison": compared}))
                continue
            chosen, rejected = (a, b) if winner == "a" else (b, a)
            p_a = compared.get("p_a")
            fields = {
                "instruction": row[self.params.prompt_column],
                **pair_fields(completions[chosen], completions[rejected], "score"),
                "pair_method": self.method,
                "chosen_index": chosen,
                "rejected_index": rejected,
                "p_chosen": None if p_a is None else (p_a if winner == "a" else round(1 - p_a, 4)),
                "comparison": compared,
            }
            records.append(derive(parent, fields, step=self.name, method=self.method, index=k))
        return records
