"""CycleAlign: iterative ranking agreement between a black-box LLM and a white-box model (Hong
et al., 2023, "CycleAlign: Iterative Distillation from Black-box LLM to White-box Models for
Better Human Alignment", arXiv 2310.16271).

CycleAlign distills alignment from a black-box LLM (an API model, ranking by prompt) to a
white-box model (weights visible, ranking by its own probabilities). For each instruction the
white-box model's responses are ranked twice: the **white box by the likelihood it gives each
response**, the **black box by in-context ranking**. The two rankings' **agreement** is taken
as a pseudo label: it becomes the **in-context demonstration** of the black box's next
ranking, and the agreed ranking is the preference data (a ranking loss, RRHF-style, tunes the
white box between rounds).

``cyclealign.rank`` runs the cycle on a row's ``completions`` (``preference.responses``):

1. White box (``white_box``, default the recipe's backend): each response is forced through
   a GBNF grammar after the instruction and its tokens' log-probabilities are read
   (``common.logprobs``); the score is the **mean token log-probability** (length-normalised,
   as RRHF scores responses), ranked best first.
2. Black box (``black_box``): ranks the responses shown under letters, the reply decoded
   under ``nectar``'s permutation grammar, greedily; from the second round on the prompt
   carries the previous round's agreed ranking as guidance.
3. Agreement: the **longest common subsequence** of the white-box and black-box rankings
   (the responses both put in the same relative order; on a tie in length, the one keeping
   the white box's higher-ranked responses).

Rounds stop at ``rounds`` or when the agreement repeats (a greedy black box shown the same
guidance would answer the same). One preference pair per ordered pair of the final agreement
(chosen = ranked higher), each carrying ``cyclealign``: the white-box ``scores`` and
``ranking``, every round's ``black_box`` ranking and ``agreement``. Fewer than two agreed
responses is an error row ``no_agreement``.

Written from the paper's description (no released code found): the LCS as the agreement, the
mean log-probability, the stopping rule and ``rounds`` = 3 are this module's reading; the
paper's demonstrations also include static human-written examples, and the white box is
fine-tuned between rounds, which changes its ranking (here it is scored once).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ..common.logprobs import forced_grammar, forced_tokens
from ..common.rows import dropped
from ..registry import register
from .common import INDEX_COLUMNS, PAIR_COLUMNS, FromCompletions, completion_pairs, prompt_text
from .nectar import LABELS, SEPARATOR, parse_ranking, ranking_request

PAPER = "Hong et al., 2023, CycleAlign: Iterative Distillation from Black-box LLM to White-box Models (arXiv 2310.16271)"
TAXONOMY = "synthesis / general model distillation (black-box and white-box ranking agreement)"
STAGE = "preference alignment"


def longest_common_subsequence(first: list[int], second: list[int]) -> list[int]:
    """The longest sequence of items in the same relative order in both rankings; between
    equally long ones, the one that keeps the first ranking's earlier items."""
    n, m = len(first), len(second)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = (
                table[i + 1][j + 1] + 1
                if first[i] == second[j]
                else max(table[i + 1][j], table[i][j + 1])
            )
    common, i, j = [], 0, 0
    while i < n and j < m:
        if first[i] == second[j]:
            common.append(first[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] > table[i][j + 1]:
            i += 1
        else:
            j += 1
    return common


def mean_logprob(reply: Any) -> float:
    """The mean log-probability of a forced reply's tokens."""
    tokens = forced_tokens(reply)
    return sum(t.logprob for t in tokens) / len(tokens)


class RankParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    rounds: int = Field(3, ge=1, le=10)
    max_responses: int = Field(8, ge=2, le=12)
    max_tokens: int = Field(1024, ge=8)  # room for the forced response
    white_box: str = "default"
    black_box: str = "default"  # the paper: ChatGPT


@register("cyclealign.rank", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rank(FromCompletions):
    """CycleAlign: white-box likelihood ranking vs black-box in-context ranking, agreement as pairs."""

    Params = RankParams
    reads = ("completions",)
    writes = ("instruction", *PAIR_COLUMNS, *INDEX_COLUMNS, "cyclealign")
    uses_llm = True
    backend_params = ("white_box", "black_box")

    def score_request(self, prompt: str, response: str) -> ChatRequest:
        return chat(
            ("user", prompt),
            temperature=0,
            max_tokens=self.params.max_tokens,
            grammar=forced_grammar(response),
            logprobs=True,
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, completions = self.params, row["completions"]
        prompt = prompt_text(row, p.prompt_column)
        if not 2 <= len(completions) <= p.max_responses:
            message = f"{len(completions)} completions; ranking takes 2 to {p.max_responses}"
            return [dropped(self, row, "completion_count", message, "none")]
        white, black = ctx.require_llm(p.white_box), ctx.require_llm(p.black_box)
        texts = [str(c["response"]) for c in completions]
        score_requests = [self.score_request(prompt, t) for t in texts]
        scored = await asyncio.gather(*(white.complete(r) for r in score_requests))
        keys = [white.key(r) for r in score_requests]
        if any(r.choices[0].finish_reason == "length" for r in scored):
            raise RowError("cut_off", "a forced response ran past max_tokens")
        scores = [round(mean_logprob(r), 6) for r in scored]
        white_ranking = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
        rounds: list[dict[str, Any]] = []
        demonstration: list[int] | None = None
        labels = LABELS[: len(texts)]
        for t in range(p.rounds):
            request = ranking_request(
                __file__, "cyclealign_rank.j2", prompt, texts, ctx.seed(row[META]["id"], t),
                demonstration=SEPARATOR.join(labels[i] for i in demonstration or []),
            )  # fmt: skip
            keys.append(black.key(request))
            letters = parse_ranking((await black.complete(request)).text, labels)
            if letters is None:
                raise RowError("unparseable_ranking", f"round {t}: not a permutation of {labels}")
            black_ranking = [labels.index(x) for x in letters]
            agreement = longest_common_subsequence(white_ranking, black_ranking)
            rounds.append({"black_box": black_ranking, "agreement": agreement})
            if agreement == demonstration:
                break
            demonstration = agreement
        final = rounds[-1]["agreement"]
        if len(final) < 2:
            message = f"the rankings agree on {len(final)} response(s)"
            return [dropped(self, row, "no_agreement", message, "none")]
        label = {"scores": scores, "ranking": white_ranking, "rounds": rounds, "agreement": final}
        pairs = [(a, b) for k, a in enumerate(final) for b in final[k + 1 :]]
        records = completion_pairs(
            self, row, pairs, None, lambda a, b: {"instruction": prompt, "cyclealign": label}
        )
        models = sorted({white.backend.describe(), black.backend.describe()})
        for record in records:
            record[META].update(models=models, request=keys)
        return records
