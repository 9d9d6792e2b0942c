"""Self-Judge: judge-augmented SFT (JSFT) data and self-rejection by tournament (Lee et al.,
2024, "Aligning Large Language Models by On-Policy Self-Judgment", arXiv 2402.11253; the
authors' code, oddqueue/self-judge).

Self-Judge trains **one model to be both policy and judge**: JSFT mixes the SFT data with
**pairwise judgment tasks written as instruction following** ("which is the better response,
A or B?" answered by the assistant turn), so the tuned model judges its own on-policy samples
without a separate reward model, and at inference it **rejects its own samples by a
tournament** it judges itself.

``self_judge.jsft`` (no model call) turns a prompt whose ``completions`` carry UltraFeedback
aspect annotations (``ultrafeedback.rate``) into chat records (``messages``: system, user,
assistant), as the authors' ``preprocess.py`` builds them from openbmb/UltraFeedback:

- one **SFT** record: the best completion, ranked by the mean of its numeric aspect ratings,
  the longer response first on ties, with its system prompt;
- **judgment** records, each comparison in **both orders** (the better response shown as A,
  then as B). ``rationale: false`` (the authors' ``uf_jsft``): one comparison, the best
  against a lower-rated completion drawn at random, in the "base" template whose assistant
  turn ends "... would be Response A"; ``rationale: true`` (``uf_jsft_pr``): for each of the
  four aspects (helpfulness, honesty, instruction following, truthfulness) one comparison
  drawn at random among the pairs of the first completion in rank order that differs from
  another in that aspect's rating (rationales that mention "Text" are left out, as the
  authors do), and the target is "Decision: Response A" followed by "Evaluation of Response
  A: ..." and "... B: ..." with the annotator's rationales (type rationale, then rating
  rationale).

Each record says its ``jsft_task`` (``sft`` or ``judgment``), ``principle``,
``chosen_index``, ``rejected_index``, ``position`` (where the better response is shown) and
``chosen_rating`` / ``rejected_rating`` (the mean, or the principle's rating). A prompt with
no rated completion is an error row ``no_ratings``.

``self_judge.tournament`` is the self-rejection at inference
(``tournament_rejection_sampling``): the row's completions are shuffled (seeded per row),
an odd one out gets a bye, the rest meet in pairs, winners go on until one is left. A match
is judged as the authors' ``get_batch_judgments`` does: under each judge template the
**probability of the letter** after the assistant prefix is read in both orders; score(x) =
the mean of p(x's letter) over the two orders; x wins when its score is higher under more
than half of the templates, and on a split the higher mean score wins (else the second
response). The prefix is forced by a GBNF grammar with the letter left free, and the
letter's top log-probabilities are read (the local backend and llama.cpp servers return the
model's own distribution, before the grammar). Row fields ``tournament`` (per round its
``byes`` and ``matches``: ``a``, ``b``, ``p`` = [template][order][A, B], ``scores``,
``win_rate``, ``winner``), ``best_index`` and ``response`` (the winner's text).

Different: the authors' prompts are paraphrased (same structure, separators and target
markers); a completion without a system prompt gets no system message (the authors always
put one, possibly empty); ``principles`` judging reads the letter after "Decision:
Response", where the JSFT target puts it (the released code reads it right after the
principle's assistant line). The authors' model is Llama-2-7B tuned on these records; the
untuned embedded model judges mostly by position.
"""

from __future__ import annotations

import asyncio
import math
import random
from statistics import mean
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, Completion, chat
from ...records import META, derive
from ..common.logprobs import forced_grammar, forced_tokens
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import FromCompletions, prompt_text, without

PAPER = "Lee et al., 2024, Aligning LLMs by On-Policy Self-Judgment (arXiv 2402.11253)"
TAXONOMY = "synthesis / self-improvement (the policy as its own pairwise judge)"
STAGE = "preference alignment"
BASE = "base"
BASE_SYSTEM = (
    "What follows are dialogues between a human user and an AI assistant that tries to be "
    "helpful, honest and truthful and to follow the human's instructions."
)
BASE_ASSISTANT = (
    "Sure! The response that is more helpful, honest and truthful and follows the user's "
    "instruction better would be Response"
)
# the four UltraFeedback aspects: (display name, what the principle asks), paraphrased
PRINCIPLES: dict[str, tuple[str, str]] = {
    "helpfulness": ("helpfulness", "give accurate, relevant, current information that is "
                    "positive, engaging, educational and helpful"),
    "honesty": ("honesty", "say honestly whether it knows the answer, be confident where it "
                "knows and express uncertainty with words such as 'I guess' or 'probably' "
                "where it does not"),
    "instruction_following": ("instruction following", "match the intent of the instruction: "
                              "its goal and its restrictions of style, format or method"),
    "truthfulness": ("truthfulness", "answer truthfully, faithful to facts and to the given "
                     "context, never inventing facts that cannot be grounded"),
}  # fmt: skip
DECISION = "\nDecision: Response"
EVALUATION = "\nEvaluation of Response {position}:"
LETTERS = ("A", "B")


def system_text(principle: str) -> str:
    if principle == BASE:
        return BASE_SYSTEM
    name, rule = PRINCIPLES[principle]
    return f"Under the principle of '{name}', the assistant should {rule}."


def assistant_prefix(principle: str) -> str:
    """The assistant turn before the letter (JSFT's target starts with it)."""
    if principle == BASE:
        return BASE_ASSISTANT
    name = PRINCIPLES[principle][0]
    return (
        "Sure! Here are the decision of the better response and an evaluation of each "
        f"response, guided by the principle of '{name}'.\n" + DECISION
    )


def judge_messages(principle: str, context: str, a: str, b: str) -> list[dict[str, str]]:
    """System and user turns of one judgment (response ``a`` shown as A)."""
    user = render(
        __file__,
        "self_judge_user.j2",
        principle=principle,
        principle_name=PRINCIPLES.get(principle, (principle,))[0],
        context=context,
        response_a=a,
        response_b=b,
    )
    return [
        {"role": "system", "content": system_text(principle)},
        {"role": "user", "content": user},
    ]


def ratings(completion: dict[str, Any]) -> dict[str, float]:
    """The numeric aspect ratings of an annotated completion ("N/A" left out)."""
    annotations = completion.get("annotations") or {}
    return {
        aspect: a["rating"]
        for aspect, a in annotations.items()
        if isinstance(a.get("rating"), int | float) and not isinstance(a.get("rating"), bool)
    }


def rating_of(completion: dict[str, Any], principle: str) -> float:
    """The mean rating (``base``) or the principle's rating of an annotated completion."""
    found = ratings(completion)
    return round(mean(found.values()), 4) if principle == BASE else found[principle]


def rationale(completion: dict[str, Any], aspect: str) -> str:
    """The annotator's rationale of an aspect: type rationale, then rating rationale."""
    a = completion["annotations"][aspect]
    return " ".join(t for t in (a.get("type_rationale"), a.get("rationale")) if t).strip()


def rank(completions: list[dict[str, Any]]) -> list[int]:
    """Indices of the rated completions, best first: mean rating, then the longer response."""
    rated = [i for i, c in enumerate(completions) if ratings(c)]
    return sorted(
        rated,
        key=lambda i: (mean(ratings(completions[i]).values()), len(completions[i]["response"])),
        reverse=True,
    )


def base_comparison(
    completions: list[dict[str, Any]], order: list[int], rng: random.Random
) -> tuple[int, int] | None:
    """The best against one lower-rated completion drawn at random; None when none is lower."""
    score = {i: mean(ratings(completions[i]).values()) for i in order}
    lower = [(order[0], j) for j in order[1:] if score[order[0]] > score[j]]
    return rng.choice(lower) if lower else None


def principle_comparison(
    completions: list[dict[str, Any]], order: list[int], aspect: str, rng: random.Random
) -> tuple[int, int] | None:
    """One (better, worse) pair under ``aspect``, drawn among the pairs of the first
    completion in rank order that has any; rationales mentioning "Text" excluded."""
    rating = {i: ratings(c).get(aspect) for i, c in enumerate(completions)}
    for target in order:
        pairs = []
        for other in range(len(completions)):
            x, y = rating[target], rating.get(other)
            if x is None or y is None or x == y:
                continue
            pair = (target, other) if x > y else (other, target)
            if all("Text" not in rationale(completions[k], aspect) for k in pair):
                pairs.append(pair)
        if pairs:
            return rng.choice(pairs)
    return None


class JsftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    rationale: bool = False  # true: the authors' uf_jsft_pr (four principles, rationales)


@register("self_judge.jsft", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Jsft(FromCompletions):
    """Self-Judge JSFT: an SFT record of the best completion plus pairwise judgment records."""

    Params = JsftParams
    reads = ("completions",)
    writes = (
        "messages", "jsft_task", "principle", "chosen_index", "rejected_index", "position",
        "chosen_rating", "rejected_rating",
    )  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        completions = row["completions"]
        instruction = prompt_text(row, self.params.prompt_column)
        order = rank(completions)
        if not order:
            return [dropped(self, row, "no_ratings", "no completion has an aspect rating", "none")]
        rng = random.Random(ctx.seed(row[META]["id"], "comparison"))
        best = completions[order[0]]
        system = best.get("system_prompt")
        sft = [
            *([{"role": "system", "content": system}] if system else []),
            {"role": "user", "content": instruction},
            {"role": "assistant", "content": best["response"]},
        ]
        tasks = [({"messages": sft, "jsft_task": "sft", "principle": None,
                   "chosen_index": order[0], "rejected_index": None, "position": None,
                   "chosen_rating": rating_of(best, BASE), "rejected_rating": None})]  # fmt: skip
        if self.params.rationale:
            drawn = {a: principle_comparison(completions, order, a, rng) for a in PRINCIPLES}
        else:
            drawn = {BASE: base_comparison(completions, order, rng)}
        for principle, pair in drawn.items():
            if pair is not None:
                tasks += judgment_tasks(instruction, completions, principle, pair, self.params)
        parent = without(row, "completions")
        return [
            derive(parent, fields, step=self.name, method=self.method, index=k)
            for k, fields in enumerate(tasks)
        ]


def judgment_tasks(
    instruction: str,
    completions: list[dict[str, Any]],
    principle: str,
    pair: tuple[int, int],
    params: JsftParams,
) -> list[dict[str, Any]]:
    """The two judgment records of one comparison: the better response shown as A, then B."""
    chosen, rejected = pair
    tasks = []
    for position in LETTERS:
        shown = (chosen, rejected) if position == "A" else (rejected, chosen)
        texts = [str(completions[i]["response"]) for i in shown]
        target = assistant_prefix(principle) + " " + position
        if params.rationale:
            target += "\n" + "".join(
                EVALUATION.format(position=letter) + " " + rationale(completions[i], principle)
                for letter, i in zip(LETTERS, shown, strict=True)
            )
        messages = [
            *judge_messages(principle, instruction, *texts),
            {"role": "assistant", "content": target},
        ]
        tasks.append({"messages": messages, "jsft_task": "judgment", "principle": principle,
                      "chosen_index": chosen, "rejected_index": rejected, "position": position,
                      "chosen_rating": rating_of(completions[chosen], principle),
                      "rejected_rating": rating_of(completions[rejected], principle)})  # fmt: skip
    return tasks


def letter_probabilities(reply: Completion) -> list[float]:
    """p(A) and p(B) at the forced reply's last token (the letter), from its top
    log-probabilities; a letter missing from them counts 0."""
    if not reply.text.endswith((" A", " B")):
        raise RowError("cut_off", f"the judgment stops before its letter: {reply.text[-40:]!r}")
    tokens = forced_tokens(reply)
    found: dict[str, float] = {}
    for entry in tokens[-1].top_logprobs:
        letter = entry["token"].strip()
        if letter in LETTERS and letter not in found:
            found[letter] = math.exp(entry["logprob"])
    if not found:
        message = f"no A or B among the last token's top log-probabilities: {tokens[-1]!r}"
        raise RowError("no_letter", message)
    return [found.get(letter, 0.0) for letter in LETTERS]


def decide(p: list[list[list[float]]]) -> dict[str, Any]:
    """A match from p[template][order][A, B] (order 0: ``a`` shown as A): ``get_batch_judgments``'s
    rule, the mean over both orders of each side's letter, a majority over templates, then the
    mean score; the second side wins an exact tie."""
    score_a = [(t[0][0] + t[1][1]) / 2 for t in p]
    score_b = [(t[0][1] + t[1][0]) / 2 for t in p]
    win_rate = sum(x > y for x, y in zip(score_a, score_b, strict=True)) / len(p)
    a_wins = win_rate > 0.5 if win_rate != 0.5 else mean(score_a) > mean(score_b)
    return {
        "scores": [[round(x, 6), round(y, 6)] for x, y in zip(score_a, score_b, strict=True)],
        "win_rate": round(win_rate, 4),
        "a_wins": a_wins,
    }


class TournamentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    judging: Literal["base", "principles"] = "base"  # the authors' uf_self_judge(_pr)
    top_logprobs: int = Field(20, ge=2, le=20)
    judge: str = "default"  # the policy itself in Self-Judge


@register("self_judge.tournament", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Tournament(MapStep):
    """Self-Judge self-rejection: a knockout tournament over the completions, judged by the model."""

    Params = TournamentParams
    reads = ("completions",)
    writes = ("tournament", "best_index", "response")
    uses_llm = True
    backend_params = ("judge",)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions"}

    def templates(self) -> list[str]:
        return [BASE] if self.params.judging == "base" else list(PRINCIPLES)

    def request(self, principle: str, context: str, a: str, b: str, seed: int) -> ChatRequest:
        messages = judge_messages(principle, context, a, b)
        prefix = assistant_prefix(principle)
        return chat(
            *((m["role"], m["content"]) for m in messages),
            temperature=0,
            max_tokens=len(prefix) + 4,  # a bound: the prefix is forced, then one letter
            grammar=forced_grammar(prefix) + ' (" A" | " B")',
            logprobs=True,
            top_logprobs=self.params.top_logprobs,
            seed=seed,
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        row_id, completions = row[META]["id"], row["completions"]
        context = prompt_text(row, self.params.prompt_column)
        if len(completions) < 1:
            return [dropped(self, row, "no_completions", "the row has no completions", "none")]
        judge, rng = ctx.require_llm(self.params.judge), random.Random(ctx.seed(row_id, "draw"))
        texts = [str(c["response"]) for c in completions]
        remaining, rounds, requests = list(range(len(completions))), [], []
        while len(remaining) > 1:
            rng.shuffle(remaining)
            byes = remaining[:1] if len(remaining) % 2 else []
            pairs = list(zip(remaining[len(byes) :: 2], remaining[len(byes) + 1 :: 2], strict=True))
            made = [
                self.request(t, context, texts[x], texts[y], ctx.seed(row_id, a, b, t, order))
                for a, b in pairs
                for t in self.templates()
                for order, (x, y) in enumerate([(a, b), (b, a)])
            ]
            replies = await asyncio.gather(*(judge.complete(r) for r in made))
            requests += made
            probabilities = [letter_probabilities(reply) for reply in replies]
            k, matches = 2 * len(self.templates()), []
            for m, (a, b) in enumerate(pairs):
                flat = probabilities[m * k : (m + 1) * k]
                p = _rounded([flat[i : i + 2] for i in range(0, k, 2)])
                decided = decide(p)
                winner = a if decided.pop("a_wins") else b
                matches.append({"a": a, "b": b, "p": p, **decided, "winner": winner})
            rounds.append({"byes": byes, "matches": matches})
            remaining = byes + [match["winner"] for match in matches]
        best = remaining[0]
        fields = {"tournament": rounds, "best_index": best, "response": texts[best]}
        return [self.derived(row, fields, ctx, requests, llm=judge)]


def _rounded(p: list[list[list[float]]]) -> list[list[list[float]]]:
    return [[[round(x, 6) for x in order] for order in template] for template in p]
