"""Direct RLAIF, d-RLAIF (Lee et al., 2023, "RLAIF vs. RLHF: Scaling Reinforcement Learning
from Human Feedback with AI Feedback", arXiv 2309.00267, §2.3).

d-RLAIF skips the reward model: during RL an off-the-shelf LLM is asked to **rate each
response from 1 to 10**; the likelihood of each score token 1..10 is read, normalised into a
distribution, and the **weighted score** s = sum_i i * P(i) is normalised to [-1, 1] and used
directly as the reward.

``d_rlaif.score`` labels every completion of a row's ``completions`` (or the row's
``response``) with one judge call (``judge``, default the recipe's backend): the reply is
forced to the text ``10`` with ``top_logprobs`` on (``common.logprobs``; the local backend and
llama.cpp servers return the model's own distribution before the grammar), so one call gives
the first score token's distribution and log p("0" | "1"). The tokenizer of the embedded
model writes ``10`` as ``1`` then ``0``, so P(10) = p("1") p("0" | "1"),
P(1) = p("1") (1 - p("0" | "1")) and P(k) = p("k") for k = 2..9, renormalised over the ten
scores (a digit missing from the top log-probabilities counts as 0); a tokenizer that writes
``10`` as one token gives P(k) = p("k") for all ten (``zero_after_one`` is then null). Label ``d_rlaif``:
``{"score": s in [1, 10], "reward": (s - 5.5) / 4.5 in [-1, 1], "distribution": {score: P},
"first_token": {digit: logprob}, "zero_after_one": logprob}``. A reply whose top
log-probabilities hold no score digit is an error row ``unparseable_d_rlaif``; a backend that
returns no log-probabilities gives ``no_logprobs``.

Different: the paper's labeller is PaLM 2 with a task-specific preamble (summarisation,
helpfulness, harmlessness); here one general helpful-and-harmless rating prompt written for
synthaug, and the [-1, 1] normalisation is the linear map of [1, 10] (the paper says only
"normalised").
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError
from ...llm.types import ChatRequest, Completion, chat
from ..common.logprobs import forced_grammar, forced_tokens
from ..registry import register
from ..templates import render
from .common import ResponseLabeler

PAPER = "Lee et al., 2023, RLAIF vs. RLHF (arXiv 2309.00267): direct RLAIF"
TAXONOMY = "synthesis / AI feedback (LLM score log-probabilities as reward)"
STAGE = "preference alignment (reward labels)"
SCORES = range(1, 11)
SCORE_TOKENS = {str(k) for k in SCORES}
FORCED = "10"  # one forced reply reads p(first digit) and p("0" | "1")


def score_distribution(first: dict[str, float], zero_after_one: float | None) -> dict[int, float]:
    """P(score) for 1..10 from the first token's log-probabilities of the scores and, where
    the tokenizer writes ``10`` as ``1`` then ``0``, log p("0" | "1") (None where ``10`` is
    one token, its log-probability then in ``first``); empty when no score has a probability."""
    p = {int(s): math.exp(lp) for s, lp in first.items() if s in SCORE_TOKENS}
    if not p:
        return {}
    if zero_after_one is None:  # "10" is one token: p("1") is the score 1 alone
        raw = {k: p.get(k, 0.0) for k in SCORES}
    else:
        ten = p.get(1, 0.0) * math.exp(zero_after_one)
        raw = {k: p.get(k, 0.0) for k in range(2, 10)} | {1: p.get(1, 0.0) - ten, 10: ten}
    total = sum(raw.values())
    return {k: raw[k] / total for k in SCORES}


def weighted_score(distribution: dict[int, float]) -> float:
    """d-RLAIF's s = sum_i i * P(i)."""
    return sum(k * p for k, p in distribution.items())


def reward(score: float) -> float:
    """The score in [1, 10] mapped linearly to [-1, 1]."""
    return (score - 5.5) / 4.5


def digit_logprobs(reply: Completion) -> tuple[dict[str, float], float | None]:
    """The first token's top log-probabilities of the scores and log p("0" | "1") of a reply
    forced to ``10``: written ``1`` then ``0`` (the embedded model), or one token ``10``
    (then None, and ``10``'s log-probability is among the first token's)."""
    tokens = forced_tokens(reply)
    if tokens and tokens[0].token == FORCED:
        zero_after_one = None
    elif len(tokens) >= 2 and (tokens[0].token, tokens[1].token) == ("1", "0"):
        zero_after_one = tokens[1].logprob
    else:
        raise RowError("unexpected_tokens", f"the forced reply's tokens are {tokens!r}")
    first: dict[str, float] = {}
    for entry in tokens[0].top_logprobs:
        score = entry["token"].strip()
        if score in SCORE_TOKENS and score not in first:
            first[score] = float(entry["logprob"])
    if zero_after_one is not None:
        first.pop(FORCED, None)  # "10" as one token is not a score here
    return first, zero_after_one


class ScoreParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    response_column: str = "response"  # used when a row has no completions
    judge: str | None = None  # a name in the recipe's backends; None: the default
    top_logprobs: int = Field(20, ge=10, le=20)


@register("d_rlaif.score", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Score(ResponseLabeler):
    """d-RLAIF: a 1-10 rating's token log-probabilities as each response's reward in [-1, 1]."""

    Params = ScoreParams
    label_key = "d_rlaif"
    seed_tag = "score"

    def request(self, prompt: str, response: str, seed: int) -> ChatRequest:
        return chat(
            ("user", render(__file__, "d_rlaif_score.j2", prompt=prompt, response=response)),
            temperature=0,
            max_tokens=4,
            grammar=forced_grammar(FORCED),
            logprobs=True,
            top_logprobs=self.params.top_logprobs,
            seed=seed,
        )

    def parse_label(self, text: str) -> Any | None:
        return text if text == FORCED else None

    def read_label(self, reply: Completion) -> dict[str, Any] | None:
        if self.parse_label(reply.text) is None:
            return None
        first, zero_after_one = digit_logprobs(reply)
        distribution = score_distribution(first, zero_after_one)
        if not distribution:
            return None
        score = weighted_score(distribution)
        return {
            "score": round(score, 4),
            "reward": round(reward(score), 4),
            "distribution": {str(k): round(p, 6) for k, p in distribution.items()},
            "first_token": first,
            "zero_after_one": zero_after_one,
        }
