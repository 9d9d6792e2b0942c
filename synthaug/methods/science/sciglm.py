"""SciGLM's self-reflective instruction annotation (Zhang et al., 2024, arXiv 2401.07950,
the SciInstruct data).

The paper annotates unlabelled science questions (with known final answers) in stages, and
keeps a solution only once its answer matches the real one:

1. **CoT prompting**: the model writes a step-by-step solution of the question.
2. **Reflective generation**: for a wrong solution, the model is shown the question and its
   solution, told that the solution is wrong, and asked to reflect on the error and write a
   correct one ("Reflection: ... Correct solution: ...").
3. **Prompting with the answer**: for what is still wrong, the same reflection prompt also
   gives the real answer (the released ``reflective_prompt``: question, wrong solution,
   correct answer; the text after "Correct solution" is kept; a reply without it is asked
   again, at most 3 times).

Then a **data classifier** (the authors fine-tune a ChatGLM reward model on solutions labelled
positive/negative and keep those scoring above 0) filters low-quality solutions.

Steps: ``sciglm.annotate`` runs the stages per question (``stages``: 1-3) and keeps the first
solution whose stated answer matches the gold one; ``sciglm.filter`` asks a judge for a
positive/negative label under a JSON schema and keeps the positives.

What differs here: the answer check is synthaug's answer checker (numeric and symbolic
equivalence of the stated answer, with evidence in ``verification``), not the authors' GPT-4
judge that outputs 0/1; the prompts ask for a final "The answer is ..." line so the checker can
read the answer; the quality filter is an LLM judge standing in for the trained classifier;
the prompts are English paraphrases of the authors' Chinese ones. Stage 2's prompt (without the
answer) follows the paper's description; the released scripts only hold the stage-3 prompt.
The released scripts call GPT-4 with the API's default sampling (their ``models.py`` is not
released), so ``temperature`` defaults to the API default 1.0.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, chat, object_schema
from ...records import META
from ...verify.evidence import answer_verdict
from ..common.judged import JsonJudge
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .questions import options_text

PAPER = (
    "Zhang et al., 2024, SciGLM: Training Scientific Language Models with Self-Reflective "
    "Instruction Annotation and Tuning (arXiv 2401.07950)"
)
TAXONOMY = "synthesis / domain model distillation (self-reflective critique and revision)"
STAGE = "domain (science), instruction tuning"
STAGE_NAMES = {1: "cot", 2: "reflect", 3: "revise_with_answer"}
_CORRECT = re.compile(r"correct\s+solution\s*[:：]", re.IGNORECASE)
_REFLECTION = re.compile(r"reflection\s*[:：]", re.IGNORECASE)


def parse_revision(text: str) -> tuple[str, str] | None:
    """``(reflection, solution)`` of a "Reflection: ... Correct solution: ..." reply (the text
    after the last "Correct solution:"), or None when that marker or the solution is missing."""
    parts = _CORRECT.split(text)
    if len(parts) < 2 or not parts[-1].strip():
        return None
    head = _REFLECTION.split(parts[-2], maxsplit=1)
    return head[-1].strip(), parts[-1].strip()


class AnnotateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stages: int = Field(3, ge=1, le=3)  # 1: CoT only; 2: + reflection; 3: + the real answer
    attempts: int = Field(3, ge=1)  # replies without "Correct solution:" asked again (authors: 3)
    temperature: float = Field(1.0, ge=0, le=2)  # the API default the authors' scripts used
    max_tokens: int = Field(1024, ge=16)
    last_number_fallback: bool = False  # True: a bare last number counts as the stated answer
    keep_failed: bool = False


@register("sciglm.annotate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Annotate(MapStep):
    """SciGLM: CoT solutions checked against the gold answer; wrong ones reflected and revised.

    Input columns: ``question``, ``answer`` (gold), optional ``choices``. Output columns:
    ``solution``, ``sciglm_stage`` (``cot``, ``reflect`` or ``revise_with_answer``: the stage
    that produced the kept solution), ``reflection`` (the model's reflection, stages 2-3),
    ``attempts`` (each stage's solution and verdict), ``verification`` (kind ``answer``) and
    ``messages``. A question no stage solves is an error row ``unsolved`` (kept, unverified,
    with ``keep_failed``)."""

    Params = AnnotateParams
    reads = ("question", "answer")
    writes = ("solution", "sciglm_stage", "reflection", "attempts", "verification", "messages")
    uses_llm = True

    def request(self, prompt: str, ctx: StepContext, *where: Any) -> ChatRequest:
        p = self.params
        return chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(*where),
        )

    async def revise(
        self, row: dict[str, Any], wrong: str, stage: int, llm: LLMClient, ctx: StepContext
    ) -> tuple[tuple[str, str] | None, list[ChatRequest]]:
        """Stage 2 or 3: the reflection and revised solution (None when no reply had one)."""
        prompt = render(
            __file__,
            "sciglm_reflect.j2",
            question=row["question"],
            solution=wrong,
            options=options_text(row.get("choices")),
            gold=row["answer"] if stage == 3 else None,
        )
        sent = []
        for attempt in range(self.params.attempts):
            request = self.request(prompt, ctx, row[META]["id"], stage, attempt)
            sent.append(request)
            parsed = parse_revision((await llm.complete(request)).text)
            if parsed is not None:
                return parsed, sent
        return None, sent

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm, gold = self.params, ctx.require_llm(), str(row["answer"])
        prompt = render(
            __file__,
            "sciglm_cot.j2",
            question=row["question"],
            options=options_text(row.get("choices")),
        )
        first = self.request(prompt, ctx, row[META]["id"], 1)
        solution, reflection = (await llm.complete(first)).text.strip(), None
        verification = answer_verdict(solution, gold, p.last_number_fallback)
        attempts = [
            {"stage": STAGE_NAMES[1], "solution": solution, "verified": verification["verified"]}
        ]
        requests, stage = [first], 1
        while not verification["verified"] and stage < p.stages:
            stage += 1
            revised, sent = await self.revise(row, solution, stage, llm, ctx)
            requests += sent
            if revised is None:
                attempts.append({"stage": STAGE_NAMES[stage], "solution": None, "verified": False})
                continue
            reflection, solution = revised
            verification = answer_verdict(solution, gold, p.last_number_fallback)
            attempts.append(
                {
                    "stage": STAGE_NAMES[stage],
                    "solution": solution,
                    "verified": verification["verified"],
                }
            )
        fields = {
            "solution": solution,
            "sciglm_stage": STAGE_NAMES[stage],
            "reflection": reflection,
            "attempts": attempts,
            "verification": verification,
            "messages": [
                {"role": "user", "content": row["question"]},
                {"role": "assistant", "content": solution},
            ],
        }
        if verification["verified"]:
            return [self.derived(row, fields, ctx, requests)]
        if p.keep_failed:
            return [self.derived(row, {**fields, "failure": "unsolved"}, ctx, requests)]
        message = f"no stage of {p.stages} reached the gold answer {gold!r}"
        return [dropped(self, row, "unsolved", message, 0, fields)]


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: str | None = None  # a recipe's named backend; None: the recipe's backend
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(32, ge=8)


@register("sciglm.filter", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Filter(JsonJudge):
    """SciGLM's data classifier, here an LLM judge: keep solutions it labels positive.

    Input columns: ``question``, ``solution``. Output columns: ``quality`` (``{label,
    judge}``). A negative label makes the row an error row ``low_quality``."""

    Params = FilterParams
    reads = ("question", "solution")
    writes = ("quality",)
    schema = object_schema({"label": {"enum": ["positive", "negative"]}})

    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        prompt = render(__file__, "sciglm_quality.j2", question=row["question"],
                        solution=row["solution"])  # fmt: skip
        return self.schema_request(prompt, self.schema, seed)

    def keep(self, row: dict[str, Any], reply: dict[str, Any], judge: str) -> dict[str, Any]:
        label = reply.get("label")
        if label not in ("positive", "negative"):
            raise RowError("malformed_judgement", f"no positive/negative label: {reply!r}"[:300])
        if label == "negative":
            raise RowError("low_quality", "the quality judge labels the solution negative")
        return {"quality": {"label": label, "judge": judge}}
