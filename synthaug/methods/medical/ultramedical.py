"""UltraMedical (Zhang et al., 2024, "UltraMedical: Building Specialized Generalists in
Biomedicine", arXiv 2406.03949; pipeline code ``TsinghuaC3I/UltraMedical``, ``src/pipeline``).

UltraMedical's instructions mix manual sets (exam questions, literature QA, open-ended
questions) with synthetic ones, built on two principles, diversity and complexity:

1. **Evolution** (``run_instruct_evol.py``, ``prompt4evlove.py``): an LLM rewrites a
   biomedical prompt into a more complex one with one of five methods — add a constraint,
   make concepts more specific, ask for multi-step reasoning, deepen or broaden the
   inquiry, bring in real data or a case — adding only 10 to 20 words.
2. **Complexity scoring** (``run_score.py``): GPT-3.5 rates each question's difficulty and
   complexity 1-10 with a one- or two-sentence justification (breadth and depth of
   knowledge, number of concepts, technical terms, quantitative parts); the scores steer
   which instructions are kept.
3. **Candidates**: several models answer each instruction.
4. **Preference annotation** (``run_feedback.py``, ``prompt4evaluation.py``): GPT-4 sees
   all candidates at once, writes an evaluation and a score per response on a 5-point
   biomedical rubric (inadequate ... excellent), and ranks them (ties broken by clarity,
   richness of information, naturalness); pairs for DPO/KTO and a reward model come from
   the ranking.

Here ``ultramedical.evolve`` and ``ultramedical.complexity`` (``min_complexity``: rows
below are error rows ``too_simple``; none by default) work on a ``question`` column;
candidates come from the ``preference.responses`` step (a pool of backends, prompt column
``question``); ``ultramedical.feedback`` (a ``judge`` backend, default the recipe's) writes
``feedback`` (evaluation and 1-5 score per completion), ``ranking`` (completion indices,
best first; a ranking that is not a permutation of the completions, or that puts a
lower-scored response above a higher-scored one, is replaced by the order of the scores,
ties kept in the judge's order), and ``chosen`` / ``rejected`` (first and last of the
ranking; rows with fewer than 2 completions are error rows).

What differs: the prompts paraphrase the released ones (JSON replies under a schema instead
of free text); the seeds are the patient questions of the shipped consultations (written
for synthaug) rather than MedQA/PubMedQA/MedQuAD-style sets; the recipe's candidate pool is
the recipe's model sampled several times unless named backends are given.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest, chat, object_schema
from ...records import META
from ..common.judged import JsonJudge
from ..common.parsing import json_reply
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render
from .dialogue import json_request, squeezed
from .seeds import STAGE

PAPER = (
    "Zhang et al., 2024, UltraMedical: Building Specialized Generalists in Biomedicine "
    "(arXiv 2406.03949)"
)


class EvolveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)


@register("ultramedical.evolve", taxonomy="augmentation / evolution (complexity)", stage=STAGE,
          paper=PAPER)  # fmt: skip
class Evolve(ModelStep):
    """UltraMedical evolution: a question rewritten more complex by one of five methods.

    Input columns: ``question``. Output columns: ``question`` (evolved),
    ``original_question``."""

    Params = EvolveParams
    params: EvolveParams
    reads = ("question",)
    writes = ("question", "original_question")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        prompt = render(__file__, "ultramedical_evolve.j2", question=row["question"])
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     seed=ctx.seed(row[META]["id"]))]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        text = squeezed(replies[0].text)
        for label in ("Rewritten question:", "Question:"):
            text = text.removeprefix(label).strip()
        if not text or text == squeezed(row["question"]):
            raise RowError("no_evolution", f"no rewritten question: {replies[0].text[:200]!r}")
        return {"question": text, "original_question": row["question"]}


class ComplexityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_complexity: int | None = Field(None, ge=1, le=10, description="error row below")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(160, ge=16)


@register("ultramedical.complexity", taxonomy="curation / LLM scoring (complexity)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Complexity(ModelStep):
    """UltraMedical complexity: a 1-10 difficulty and complexity score with a justification.

    Input columns: ``question``. Output columns: ``complexity``,
    ``complexity_justification``."""

    Params = ComplexityParams
    params: ComplexityParams
    reads = ("question",)
    writes = ("complexity", "complexity_justification")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        prompt = render(__file__, "ultramedical_complexity.j2", question=row["question"])
        properties = {"justification": {"type": "string", "maxLength": 300},
                      "score": {"enum": list(range(1, 11))}}  # fmt: skip
        return [
            json_request(prompt, properties, p.temperature, p.max_tokens, ctx.seed(row[META]["id"]))
        ]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        found = json_reply(replies[0])
        score = found.get("score")
        if not isinstance(score, int) or not 1 <= score <= 10:
            raise RowError("malformed_output", f"no 1-10 score: {replies[0].text[:200]!r}")
        return {
            "complexity": score,
            "complexity_justification": squeezed(found.get("justification", "")),
        }

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        low = self.params.min_complexity
        if low is None or record["complexity"] >= low:
            return [record]
        fields = {k: record[k] for k in self.writes}
        return [
            dropped(
                self, row, "too_simple", f"complexity {record['complexity']} < {low}", 0, fields
            )
        ]


def settled_ranking(scores: list[int], ranking: Any) -> list[int]:
    """Completion indices, best first: by score, ties in the judge's ranking order (1-based
    numbers; ignored unless a permutation of the completions), else in completion order. A
    judge's ranking that agrees with its scores comes back unchanged."""
    count = len(scores)
    given = [r - 1 for r in ranking] if isinstance(ranking, list) else []
    if sorted(given) != list(range(count)):
        given = list(range(count))
    place = {index: n for n, index in enumerate(given)}
    return sorted(range(count), key=lambda i: (-scores[i], place[i]))


class FeedbackParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: str | None = None  # a recipe's named backend; None: the recipe's backend
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(1024, ge=32)


@register("ultramedical.feedback", taxonomy="synthesis / AI feedback (ranked preferences)",
          stage="preference alignment (medicine)", paper=PAPER)  # fmt: skip
class Feedback(JsonJudge):
    """UltraMedical preference annotation: a judge scores (1-5) and ranks all completions.

    Input columns: ``question``, ``completions``. Output columns: ``feedback``, ``ranking``,
    ``chosen``, ``rejected``, ``feedback_judge``."""

    Params = FeedbackParams
    params: FeedbackParams
    reads = ("question", "completions")
    writes = ("feedback", "ranking", "chosen", "rejected", "feedback_judge")

    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        count = len(row["completions"])
        if count < 2:
            raise RowError("too_few_completions", f"{count} completion(s): nothing to rank")
        responses = [c["response"] for c in row["completions"]]
        prompt = render(__file__, "ultramedical_feedback.j2", question=row["question"],
                        responses=responses)  # fmt: skip
        item = object_schema(
            {"evaluation": {"type": "string", "maxLength": 300}, "score": {"enum": [1, 2, 3, 4, 5]}}
        )
        feedback = {"type": "array", "items": item, "minItems": count, "maxItems": count}
        ranking = {"type": "array", "items": {"enum": list(range(1, count + 1))},
                   "minItems": count, "maxItems": count}  # fmt: skip
        properties = {"feedback": feedback, "ranking": ranking}
        return self.schema_request(prompt, object_schema(properties), seed)

    def keep(self, row: dict[str, Any], reply: dict[str, Any], judge: str) -> dict[str, Any]:
        completions, feedback = row["completions"], reply.get("feedback")
        if not isinstance(feedback, list) or len(feedback) != len(completions):
            raise RowError(
                "malformed_judgement", f"not one feedback per completion: {reply!r}"[:300]
            )
        scores = [item.get("score") if isinstance(item, dict) else None for item in feedback]
        if not all(isinstance(s, int) and 1 <= s <= 5 for s in scores):
            raise RowError("malformed_judgement", f"not a 1-5 score each: {scores!r}")
        ranking = settled_ranking(scores, reply.get("ranking"))
        notes = [{"evaluation": squeezed(item.get("evaluation", "")), "score": s}
                 for item, s in zip(feedback, scores, strict=True)]  # fmt: skip
        return {"feedback": notes, "ranking": ranking, "feedback_judge": judge,
                "chosen": completions[ranking[0]]["response"],
                "rejected": completions[ranking[-1]]["response"]}  # fmt: skip
