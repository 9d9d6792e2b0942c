"""UltraFeedback (Cui et al., 2023, arXiv 2310.01377): fine-grained AI feedback on several
completions of a prompt, then preference pairs.

``ultrafeedback.rate`` annotates the ``completions`` written by ``preference.responses``:

1. For each of the four aspects, instruction following, honesty, truthfulness and
   helpfulness, **one call rates all completions at once**, at temperature 0, the texts shown
   in a shuffled order **drawn afresh for each aspect** (seeded by row and aspect), as the
   authors' annotation script (``src/data_annotation/annotate_preference.py``) reshuffles for
   every aspect: a judge's position bias then lands on different completions in different
   aspects instead of adding up to a preference. Each text gets a 1-5 rating and a short
   rationale; honesty may be ``"N/A"`` (creative writing); truthfulness also lists
   hallucination types (1 contradicts the world, 2 contradicts the instruction or input, 3
   self-contradictory) and helpfulness informativeness types (1 clarity and relevance, 2
   useful and comprehensive, 3 not lengthy, no repetition), each with a type rationale, as in
   the paper's record. The truthfulness prompt gets "world knowledge" from
   ``knowledge_columns`` (e.g. TruthfulQA's ``correct_answers`` and ``incorrect_answers``),
   else the paper's "no additional world knowledge" line. The reply is decoded under a JSON
   schema: a list of exactly n entries with the rating an enum and every string bounded, so
   even a 135M model answers in form. Each aspect's ratings are mapped back from its own
   shown order to the completions' order; ``_meta.shown_order`` records the four orders.
2. The critique: one call per completion (the completion's system prompt, if any, added as
   a "Note", as the paper does) asks for teacher-style feedback and an overall score 1-10,
   schema-constrained.
3. ``fine_grained_score`` is the mean of the numeric aspect ratings. The authors' later fix
   of the overall scores (``src/data_annotation/fix_overall_score_issue.py``) is applied to
   an overall 10: a fine-grained mean <= 2 flips it to 1 (``score_fix: "flipped"``), a mean
   > 4 keeps it (``"kept"``), and in between the overall score is **annotated again**
   (``"reannotated"``): as in the authors' script, the critique prompt is sent once more with
   the feedback already written shown after it, and only the new overall score is asked for;
   it replaces the 10.

The paper retries a reply with a format error up to 10 times; under constrained decoding
the only format error left is a reply cut off by ``max_tokens``, which a retry at
temperature 0 would repeat, so the row becomes an error row instead:
``unparseable_rating`` or ``unparseable_critique`` (also for a re-annotated score that is
not one; ``no_completions`` for a row with none).

``ultrafeedback.binarize`` (no model) turns rated rows into preference pairs:
``binarized`` as HuggingFaceH4/ultrafeedback_binarized (Zephyr's DPO set): chosen = the
completion with the highest ``overall_score`` (the first on ties), rejected = one of the
completions with a lower score, drawn at random (seeded by the row id), so a pair never
ties; ``all_pairs``: every pair with different scores (the paper's reward-model set).
Rows whose scores are all equal are dropped (``all_scores_equal``). ``score:
fine_grained_score`` binarizes on the mean aspect rating instead (Argilla's cleaned variant).

Faithful: the four aspects and their scales, all completions in one call per aspect, one
shuffle per aspect (the authors' ``SHUFLLE_NUM = 1``), temperature 0, the critique with its
"Note" and 1-10 score, the fix of overall 10s with its re-annotation, both pair sets.
Different: the prompts are this project's paraphrases of the authors' templates and replies
are JSON under a schema instead of the authors' line format parsed by regular expressions
(so there is no retry loop; see above); the string bounds and ``max_tokens`` are this
project's, sized for a strong judge (the authors allow 500 tokens per aspect reply and 1024
per critique, with top-p 0.6, which is moot at temperature 0). The paper's annotator is
GPT-4; name a strong ``judge`` backend for real use.
"""

from __future__ import annotations

import asyncio
import random
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import INDEX_COLUMNS, PAIR_COLUMNS, completion_pairs, scored

PAPER = "Cui et al., 2023, UltraFeedback (arXiv 2310.01377)"
TAXONOMY = "synthesis / preference alignment (fine-grained AI feedback)"
STAGE = "preference alignment"
ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")
TYPED = ("truthfulness", "helpfulness")  # aspects whose entries also list types 1-3
NO_KNOWLEDGE = "No additional world knowledge for reference."


class RateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    # columns shown to the truthfulness rating as world knowledge (e.g. correct_answers)
    knowledge_columns: list[str] = Field(default_factory=list)
    judge: str | None = None  # a name in the recipe's backends; None: the default
    temperature: float = Field(0.0, ge=0, le=2)  # the paper's
    rationale_chars: int = Field(200, ge=10)  # bounds every rationale in the rating reply
    max_tokens: int = Field(1024, ge=32)  # one aspect's reply for all completions
    critique_chars: int = Field(600, ge=20)
    critique_max_tokens: int = Field(400, ge=16)


def shown_order(n: int, seed: int) -> list[int]:
    """The shuffled order the judge sees: ``order[k]`` is the completion shown as text k+1."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def aspect_orders(n: int, ctx: StepContext, row_id: str) -> dict[str, list[int]]:
    """One shown order per aspect, each drawn from its own seed (row and aspect)."""
    return {aspect: shown_order(n, ctx.seed(row_id, "order", aspect)) for aspect in ASPECTS}


def unshuffle(shown: list[Any], order: list[int]) -> list[Any]:
    """Entries given in the shown order, back in the completions' own order."""
    return [shown[order.index(j)] for j in range(len(order))]


def aspect_schema(aspect: str, n: int, rationale_chars: int = 200) -> dict[str, Any]:
    """The reply for one aspect: ``texts``, exactly ``n`` entries (rating enum, bounded text)."""
    text = {"type": "string", "minLength": 1, "maxLength": rationale_chars}
    ratings: list[Any] = [1, 2, 3, 4, 5] + (["N/A"] if aspect == "honesty" else [])
    entry: dict[str, Any] = {}
    if aspect in TYPED:
        types = {"type": "integer", "enum": [1, 2, 3]}
        entry["type"] = {"type": "array", "items": types, "maxItems": 3}
        entry["type_rationale"] = text
    entry["rating"] = {"enum": ratings}
    entry["rationale"] = text
    texts = {"type": "array", "items": object_schema(entry), "minItems": n, "maxItems": n}
    return object_schema({"texts": texts})


def parse_aspect(text: str, aspect: str, n: int) -> list[dict[str, Any]] | None:
    """The ``n`` annotations of one aspect's reply (shown order), or None when it is not one
    (e.g. cut off). Types are de-duplicated and sorted."""
    entries = json_object(text).get("texts")
    if not isinstance(entries, list) or len(entries) != n:
        return None
    allowed = {1, 2, 3, 4, 5} | ({"N/A"} if aspect == "honesty" else set())
    parsed = []
    for entry in entries:
        if not isinstance(entry, dict):
            return None
        rating, rationale = entry.get("rating"), entry.get("rationale")
        if isinstance(rating, bool) or rating not in allowed or not isinstance(rationale, str):
            return None
        annotation: dict[str, Any] = {}
        if aspect in TYPED:
            types, why = entry.get("type"), entry.get("type_rationale")
            if not isinstance(types, list) or not isinstance(why, str):
                return None
            if any(isinstance(t, bool) or t not in (1, 2, 3) for t in types):
                return None
            annotation = {"type": sorted(set(types)), "type_rationale": why.strip()}
        parsed.append({**annotation, "rating": rating, "rationale": rationale.strip()})
    return parsed


def critique_schema(critique_chars: int = 600) -> dict[str, Any]:
    """The critique reply: bounded teacher-style feedback, then an overall score 1-10."""
    return object_schema(
        {
            "feedback": {"type": "string", "minLength": 1, "maxLength": critique_chars},
            "overall_score": {"type": "integer", "enum": list(range(1, 11))},
        }
    )


def rescore_schema() -> dict[str, Any]:
    """The re-annotation reply: only an overall score 1-10."""
    return object_schema({"overall_score": {"type": "integer", "enum": list(range(1, 11))}})


def parse_rescore(text: str) -> int | None:
    """The overall score of a re-annotation reply, or None when it is not one."""
    score = json_object(text).get("overall_score")
    return None if isinstance(score, bool) or score not in range(1, 11) else score


def parse_critique(text: str) -> tuple[str, int] | None:
    """Feedback and overall score of a critique reply, or None when it is not one."""
    reply = json_object(text)
    feedback, score = reply.get("feedback"), reply.get("overall_score")
    if not isinstance(feedback, str) or isinstance(score, bool) or score not in range(1, 11):
        return None
    return feedback.strip(), score


def fine_grained_score(annotations: dict[str, dict[str, Any]]) -> float | None:
    """Mean of the numeric aspect ratings (honesty's "N/A" left out)."""
    ratings = [a["rating"] for a in annotations.values() if isinstance(a["rating"], int)]
    return round(sum(ratings) / len(ratings), 4) if ratings else None


def fix_overall(overall: int, fine: float | None) -> tuple[int, str | None]:
    """The paper's fix of overall 10s: mean <= 2 flips to 1, > 4 keeps 10, else the verdict
    ``"reannotate"`` (``Rate`` then asks for the overall score again)."""
    if overall != 10:
        return overall, None
    if fine is not None and fine <= 2:
        return 1, "flipped"
    if fine is not None and fine > 4:
        return 10, "kept"
    return 10, "reannotate"


def world_knowledge(row: dict[str, Any], columns: list[str]) -> str:
    """The truthfulness prompt's reference: each named column that has a value, or the
    paper's "no additional world knowledge" line."""
    lines = []
    for column in columns:
        value = row.get(column)
        if value in (None, "", []):
            continue
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        lines.append(f"{column.replace('_', ' ')}: {value}")
    return "\n".join(lines) or NO_KNOWLEDGE


@register("ultrafeedback.rate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rate(MapStep):
    """UltraFeedback: 4 aspect ratings of all completions at once, a critique and overall score."""

    Params = RateParams
    writes = ("completions",)
    uses_llm = True
    backend_params = ("judge",)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions"}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id = self.params, row[META]["id"]
        completions = row["completions"]
        if not completions:
            return [dropped(self, row, "no_completions", "the row has no completions", "none")]
        judge = ctx.require_llm(p.judge)
        instruction = str(row[p.prompt_column])
        orders, ratings = self.rating_requests(row, ctx)
        critiques = [
            self.critique_request(instruction, c, ctx.seed(row_id, "critique", j))
            for j, c in enumerate(completions)
        ]
        replies = await asyncio.gather(*(judge.complete(r) for r in [*ratings, *critiques]))
        answers = [reply.text for reply in replies]
        shown: dict[str, list[dict[str, Any]]] = {}
        for aspect, reply in zip(ASPECTS, answers[: len(ASPECTS)], strict=True):
            parsed = parse_aspect(reply, aspect, len(completions))
            if parsed is None:
                message = f"the {aspect} reply is not {len(completions)} complete annotations"
                fields = {"aspect": aspect, "rating_reply": reply}
                return [dropped(self, row, "unparseable_rating", message, aspect, fields)]
            shown[aspect] = unshuffle(parsed, orders[aspect])
        annotated = []
        for j, (completion, reply) in enumerate(
            zip(completions, answers[len(ASPECTS) :], strict=True)
        ):
            critique = parse_critique(reply)
            if critique is None:
                message = f"the critique of completion {j} is not a complete feedback object"
                fields = {"critique_reply": reply}
                return [dropped(self, row, "unparseable_critique", message, j, fields)]
            annotations = {aspect: shown[aspect][j] for aspect in ASPECTS}
            fine = fine_grained_score(annotations)
            overall, fix = fix_overall(critique[1], fine)
            annotated.append(
                {
                    **completion,
                    "annotations": annotations,
                    "fine_grained_score": fine,
                    "critique": critique[0],
                    "overall_score": overall,
                    "score_fix": fix,
                }
            )
        again = [j for j, c in enumerate(annotated) if c["score_fix"] == "reannotate"]
        rescores = [
            self.rescore_request(instruction, annotated[j], ctx.seed(row_id, "rescore", j))
            for j in again
        ]
        for j, reply in zip(
            again, await asyncio.gather(*(judge.complete(r) for r in rescores)), strict=True
        ):
            score = parse_rescore(reply.text)
            if score is None:
                message = f"the re-annotated overall score of completion {j} is not a score"
                fields = {"critique_reply": reply.text}
                return [dropped(self, row, "unparseable_critique", message, j, fields)]
            annotated[j] = {**annotated[j], "overall_score": score, "score_fix": "reannotated"}
        fields, requests = {"completions": annotated}, [*ratings, *critiques, *rescores]
        return [self.derived(row, fields, ctx, requests, llm=judge, shown_order=orders)]

    def rating_requests(
        self, row: dict[str, Any], ctx: StepContext
    ) -> tuple[dict[str, list[int]], list[ChatRequest]]:
        """Each aspect's shown order and rating request (in ``ASPECTS`` order)."""
        p, row_id, completions = self.params, row[META]["id"], row["completions"]
        orders = aspect_orders(len(completions), ctx, row_id)
        knowledge = world_knowledge(row, p.knowledge_columns)
        requests = [
            self.rating_request(
                aspect,
                str(row[p.prompt_column]),
                [str(completions[j]["response"]) for j in orders[aspect]],
                knowledge,
                ctx,
                row_id,
            )
            for aspect in ASPECTS
        ]
        return orders, requests

    def rating_request(
        self,
        aspect: str,
        instruction: str,
        texts: list[str],
        knowledge: str,
        ctx: StepContext,
        row_id: str,
    ) -> ChatRequest:
        p = self.params
        prompt = render(
            __file__,
            f"ultrafeedback_{aspect}.j2",
            instruction=instruction,
            texts=texts,
            world_knowledge=knowledge,
        )
        return chat(
            ("system", render(__file__, "ultrafeedback_system.j2", n=len(texts))),
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            json_schema=aspect_schema(aspect, len(texts), p.rationale_chars),
            seed=ctx.seed(row_id, "rate", aspect),
        )

    def critique_request(
        self, instruction: str, completion: dict[str, Any], seed: int
    ) -> ChatRequest:
        p = self.params
        return chat(
            ("system", render(__file__, "ultrafeedback_critique_system.j2")),
            ("user", self.critique_prompt(instruction, completion)),
            temperature=p.temperature,
            max_tokens=p.critique_max_tokens,
            json_schema=critique_schema(p.critique_chars),
            seed=seed,
        )

    def rescore_request(
        self, instruction: str, completion: dict[str, Any], seed: int
    ) -> ChatRequest:
        """The authors' re-annotation of a suspicious 10: the critique prompt again, the
        feedback already written after it, and only the overall score asked for."""
        prompt = self.critique_prompt(instruction, completion, feedback=completion["critique"])
        return chat(
            ("system", render(__file__, "ultrafeedback_critique_system.j2")),
            ("user", prompt),
            temperature=self.params.temperature,
            max_tokens=16,
            json_schema=rescore_schema(),
            seed=seed,
        )

    def critique_prompt(
        self, instruction: str, completion: dict[str, Any], feedback: str | None = None
    ) -> str:
        return render(
            __file__,
            "ultrafeedback_critique.j2",
            instruction=instruction,
            note=completion.get("system_prompt") or "",
            answer=str(completion["response"]),
            feedback=feedback,
        )


class BinarizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["binarized", "all_pairs"] = "binarized"
    score: Literal["overall_score", "fine_grained_score"] = "overall_score"


def binarized_pair(items: list[tuple[int, float]], rng: random.Random) -> tuple[int, int] | None:
    """(chosen, rejected): the first top-scored item and a random one scored lower."""
    if not items:
        return None
    best = max(items, key=lambda item: item[1])
    lower = [i for i, s in items if s < best[1]]
    return (best[0], rng.choice(lower)) if lower else None


def all_pairs(items: list[tuple[int, float]]) -> list[tuple[int, int]]:
    """Every (better, worse) pair of items with different scores."""
    return [
        (a, b) if sa > sb else (b, a) for (a, sa), (b, sb) in combinations(items, 2) if sa != sb
    ]


@register("ultrafeedback.binarize", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Binarize(MapStep):
    """UltraFeedback pairs: best vs a random lower-scored completion, or every unequal pair."""

    Params = BinarizeParams
    reads = ("completions",)
    writes = (*PAIR_COLUMNS, *INDEX_COLUMNS)

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"completions"}) | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, completions = self.params, row["completions"]
        items = scored(completions, p.score)
        if p.mode == "binarized":
            pair = binarized_pair(items, random.Random(ctx.seed(row[META]["id"], "rejected")))
            pairs = [pair] if pair else []
        else:
            pairs = all_pairs(items)
        if not pairs:
            message = f"no two completions have different {p.score}s"
            return [dropped(self, row, "all_scores_equal", message, "none")]
        return completion_pairs(self, row, pairs, p.score)
