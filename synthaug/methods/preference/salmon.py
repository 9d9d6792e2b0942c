"""SALMON principle-following judgements (Sun et al., 2023, "SALMON: Self-Alignment with
Instructable Reward Models", arXiv 2310.05910; the authors' code, IBM/SALMON).

SALMON replaces a fixed reward model with an **instructable** one: the judge reads the
response together with a set of written principles and scores how well the response follows
them. During RL, the principles are **chosen per prompt** (drawn from a collection whose
entries carry weights), and a few **intervention principles** are always added to stop the
reward hacking the authors saw (self-praise and commentary on its own answer; pros-and-cons
analyses, step lists or code where the instruction asked for none; padding with needless
examples). The synthetic preferences that train the judge come from comparing two responses
under a principle, in both orders, from the log-probabilities of the options.

``salmon.judge`` compares every pair of a row's ``completions`` under the row's principles:
``principles_per_prompt`` principles drawn without replacement with the collection's weights
(seeded per row), plus the intervention principles (``intervention: true``) and any
``extra_principles``; one judge call per order, greedy, grammar ``A | B``, with RL-CAI soft
labels from the first token's log-probabilities (``judge.pairwise``'s machinery). Row fields
``principles`` (the drawn names), ``judge_principles`` (every principle text the judge saw,
interventions included) and ``comparisons`` in ``judge.pairwise``'s format, so
``pairwise.pairs`` makes the preference pairs.

The principle collection is the authors' RL-time one (``principle_collection_ppo.json``):
14 dimensions with their weights, the definitions paraphrased for synthaug; the
interventions paraphrase the three in their reward-model prompt. Different: the authors'
judge is a fine-tuned principle-following reward model giving a scalar score, and the number
of principles drawn per prompt (3 here) is written from memory; the authors' extra
reasoning and red-teaming principles (by question type) are not built in
(``extra_principles`` adds such ones).
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import StepContext
from ...records import META
from ..registry import register
from ..templates import render
from .pairwise import BothOrders

PAPER = (
    "Sun et al., 2023, SALMON: Self-Alignment with Instructable Reward Models (arXiv 2310.05910)"
)
TAXONOMY = "synthesis / self-improvement (principle-following AI feedback)"
STAGE = "preference alignment"
# the authors' RL-time collection: name -> (weight, definition paraphrased for synthaug)
PRINCIPLES: dict[str, tuple[int, str]] = {
    "Honest and Accurate": (3, "give reliable, factual information and say plainly what it "
                            "does not know or cannot do"),
    "Ethical": (2, "avoid offensive, discriminatory or harmful content and never take part "
                "in or endorse risky activities"),
    "Educational and Engaging": (1, "use accurate, relevant, current information that teaches "
                                 "the user while keeping them engaged"),
    "Creative": (1, "be able to write original content such as poems, stories, code, essays, "
                 "summaries or translations"),
    "Multilingual": (1, "answer in the language the user writes in"),
    "Comprehensive": (3, "for information requests, give thorough, relevant detail, and on "
                      "contested topics present the different perspectives fairly"),
    "Natural Language": (3, "write varied, natural language without repetition or awkward "
                         "phrasing"),
    "Consistent Reasoning": (1, "be clear and logically sound, with no self-contradiction"),
    "Numerical Sensitive": (1, "respect every number the instruction gives and compute "
                            "without numerical errors"),
    "Analytical Structure": (3, "for analysis tasks, open with a summary and follow with key "
                             "points, each analysed in depth"),
    "Vivid": (1, "use lively, energetic language that makes the exchange dynamic"),
    "Privacy Protection": (1, "produce no personally identifiable information and no "
                           "external URLs"),
    "Candor": (4, "never share false information; when a question makes no sense or rests on "
               "a false premise, explain why instead of answering it as asked"),
    "Stand-Alone": (2, "work as a stand-alone text system, without relying on external "
                    "sources such as URLs, images or videos"),
}  # fmt: skip
# the authors' reward-model prompt always adds these (against reward hacking)
INTERVENTIONS = (
    "The AI must not comment on its own response or praise itself; it stays humble.",
    "The AI must fulfil the instruction itself rather than give a high-level pros-and-cons "
    "analysis, step-by-step instructions or executable code that was not asked for.",
    "The AI should answer directly and on point, without unnecessary examples.",
)


def draw_principles(count: int, rng: random.Random) -> list[str]:
    """``count`` principle names drawn without replacement, weighted as the collection says."""
    names = list(PRINCIPLES)
    drawn: list[str] = []
    for _ in range(min(count, len(names))):
        pick = rng.choices(names, weights=[PRINCIPLES[n][0] for n in names])[0]
        drawn.append(pick)
        names.remove(pick)
    return drawn


def principle_texts(names: list[str], intervention: bool, extra: list[str]) -> list[str]:
    """Everything the judge is told to follow: interventions, extra ones, the drawn principles."""
    drawn = [f"{name}: the AI should {PRINCIPLES[name][1]}." for name in names]
    return [*(INTERVENTIONS if intervention else ()), *extra, *drawn]


class JudgeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    principles_per_prompt: int = Field(3, ge=1, le=len(PRINCIPLES))
    intervention: bool = True  # the authors' anti-reward-hacking principles
    extra_principles: list[str] = Field(default_factory=list)
    logprobs: bool = True
    top_logprobs: int = Field(20, ge=2, le=20)
    judge: str = "default"


@register("salmon.judge", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Judge(BothOrders):
    """SALMON: compare completions under principles drawn per prompt plus intervention principles."""

    Params = JudgeParams
    writes = ("comparisons", "principles", "judge_principles")

    def row_fields(self, row: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        p = self.params
        names = draw_principles(
            p.principles_per_prompt, random.Random(ctx.seed(row[META]["id"], "principles"))
        )
        return {
            "principles": names,
            "judge_principles": principle_texts(names, p.intervention, p.extra_principles),
        }

    def judge_text(self, prompt: str, first: str, second: str, fields: dict[str, Any]) -> str:
        return render(
            __file__,
            "salmon_judge.j2",
            prompt=prompt,
            principles=fields["judge_principles"],
            first=first,
            second=second,
        )
