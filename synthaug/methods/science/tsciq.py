"""T-SciQ: teaching science QA with LLM signals (Wang et al., 2023, arXiv 2305.03453).

The paper (and its released scripts ``generate_lectures.py``, ``generate_plans.py``,
``generate_cot.py``, ``generate_pcot.py``, ``problems_merge.py``) makes two kinds of teaching
data with a teacher LLM (``text-davinci-003``, temperature 0, 512 tokens) and mixes them:

- **QA-CoT**: the problem (question, context, options) *with its correct answer*, and "Please
  give me a detailed explanation."
- **QA-PCoT**, planning-based CoT in three steps: per problem type (*skill*), (1) a one-sentence
  *lecture* from up to 5 sample problems of the skill, (2) a *plan* ("devise a general and brief
  plan step by step") from the lecture and the samples, then per problem (3) the teacher
  *carries out the plan* on the problem, given the lecture, the plan and the correct answer.
- **Data mixing**: a student is trained on each kind; per skill, their errors on the
  validation split are counted, and a skill whose PCoT student makes more errors than its
  QA-CoT student is taught with QA-CoT, every other skill with QA-PCoT.

Steps: ``tsciq.plans`` (whole input: a lecture and a plan per skill, on every row),
``tsciq.teach`` (both rationales per problem, each checked against the gold answer) and
``tsciq.mix`` (the policy, then the chosen rationale per training row).

What differs here: there is no trained student; ``tsciq.mix`` uses the recipe's model (or a
named ``student`` backend) as an in-context student: each held-out validation question is
asked once after ``shots`` training rationales of its skill of one kind and once after the
other kind's, and its stated answer is checked with synthaug's answer checker; the errors per
skill then choose the kind by the authors' rule. The validation rows are held out of the
output (error rows ``held_out_validation``, with the student's answers). Both teacher prompts
add a request for a final "The answer is ..." line so the rationales can be verified; T-SciQ's
ScienceQA problems are multimodal, these are text only (context "N/A").
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext, WholeStep
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, chat
from ...records import META, derive
from ...verify.evidence import answer_verdict
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render
from .questions import options_text

PAPER = (
    "Wang et al., 2023, T-SciQ: Teaching Multimodal Chain-of-Thought Reasoning via Large "
    "Language Model Signals for Science Question Answering (arXiv 2305.03453)"
)
TAXONOMY = "synthesis / domain model distillation (teaching signals, planning-based CoT, mixing)"
STAGE = "domain (science), reasoning (SFT data)"
SIGNALS = ("qa_cot", "qa_pcot")


def problem_text(row: dict[str, Any], with_answer: bool) -> str:
    """The authors' problem block: question, context, options and (for the teacher) the
    correct answer."""
    lines = [
        f"Question: {row['question']}",
        "Context: N/A",
        f"Options: {options_text(row.get('choices')) or 'N/A'}",
    ]
    if with_answer:
        lines.append(f"Correct Answer: {row['answer']}")
    return "\n".join(lines)


class TeacherParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.0, ge=0, le=2)  # the authors: 0
    max_tokens: int = Field(512, ge=16)  # the authors: 512

    def request(self, prompt: str, seed: int) -> ChatRequest:
        return chat(
            ("user", prompt), temperature=self.temperature, max_tokens=self.max_tokens, seed=seed
        )


class PlansParams(TeacherParams):
    samples: int = Field(5, ge=1)  # sample problems per skill (the authors: at most 5)


@register("tsciq.plans", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Plans(WholeStep):
    """T-SciQ: a one-sentence lecture and a brief step-by-step plan per skill.

    Input columns: ``question``, ``answer``, ``skill``. Output columns: ``lecture``, ``plan``
    (the same on every row of a skill)."""

    Params = PlansParams
    params: PlansParams
    reads = ("question", "answer", "skill")
    writes = ("lecture", "plan")
    uses_llm = True

    async def skill_plan(
        self, skill: str, rows: list[dict[str, Any]], llm: LLMClient, ctx: StepContext
    ) -> tuple[str, str, list[ChatRequest]]:
        p = self.params
        rng = random.Random(ctx.seed("samples", skill))
        picked = rng.sample(rows, p.samples) if len(rows) > p.samples else rows
        problems = [problem_text(row, with_answer=True) for row in picked]
        ask = p.request(
            render(__file__, "tsciq_lecture.j2", skill=skill, problems=problems),
            ctx.seed("lecture", skill),
        )
        lecture = (await llm.complete(ask)).text.strip()
        prompt = render(__file__, "tsciq_plan.j2", skill=skill, lecture=lecture, problems=problems)
        plan_request = p.request(prompt, ctx.seed("plan", skill))
        plan = (await llm.complete(plan_request)).text.strip()
        return lecture, plan, [ask, plan_request]

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        by_skill: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in held:
            by_skill[str(row["skill"])].append(row)
        llm = ctx.require_llm()
        skills = list(by_skill)
        made = await asyncio.gather(*(self.skill_plan(s, by_skill[s], llm, ctx) for s in skills))
        plans = dict(zip(skills, made, strict=True))
        for row in held:
            lecture, plan, requests = plans[str(row["skill"])]
            yield derive(
                row,
                {"lecture": lecture, "plan": plan},
                step=self.name,
                method=self.method,
                model=llm.backend.describe(),
                request=[llm.key(r) for r in requests],
            )


class TeachParams(TeacherParams):
    last_number_fallback: bool = False  # True: a bare last number counts as the stated answer


@register("tsciq.teach", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Teach(ModelStep):
    """T-SciQ: the QA-CoT and the planning-based QA-PCoT rationale of each problem, verified.

    Input columns: ``question``, ``answer``, ``skill``, ``lecture``, ``plan``. Output columns:
    ``qa_cot`` and ``qa_pcot`` (``{rationale, verification}``: the answer check of each)."""

    Params = TeachParams
    params: TeachParams
    reads = ("question", "answer", "skill", "lecture", "plan")
    writes = SIGNALS

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        problem, seed = problem_text(row, with_answer=True), ctx.seed(row[META]["id"])
        cot = render(__file__, "tsciq_cot.j2", problem=problem)
        pcot = render(
            __file__,
            "tsciq_pcot.j2",
            problem=problem,
            skill=row["skill"],
            lecture=row["lecture"],
            plan=row["plan"],
        )
        return [self.params.request(cot, seed), self.params.request(pcot, seed + 1)]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        fields = {}
        for signal, reply in zip(SIGNALS, replies, strict=True):
            rationale = reply.text.strip()
            if not rationale:
                raise RowError("empty_rationale", f"the {signal} rationale is empty")
            verdict = answer_verdict(
                rationale, str(row["answer"]), self.params.last_number_fallback
            )
            fields[signal] = {"rationale": rationale, "verification": verdict}
        return fields


class MixParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    validation_share: float = Field(0.25, gt=0, lt=1)  # of each skill's rows (at least 1 of 2+)
    shots: int = Field(2, ge=1)  # training rationales shown to the in-context student
    student: str | None = None  # a recipe's named backend; None: the recipe's backend
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)
    last_number_fallback: bool = False


@register("tsciq.mix", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Mix(WholeStep):
    """T-SciQ's data mixing: per skill, QA-CoT where the student errs less with it, else PCoT.

    Input columns: ``question``, ``answer``, ``skill``, ``qa_cot``, ``qa_pcot``. Output
    columns: ``signal`` (the kind chosen for the skill), ``rationale``, ``verification`` (its
    answer check), ``messages`` and ``tsciq_policy`` (the skill's validation errors per kind
    and the ids of its validation rows). Validation rows become error rows
    ``held_out_validation`` carrying ``student_answers``."""

    Params = MixParams
    params: MixParams
    reads = ("question", "answer", "skill", *SIGNALS)
    writes = ("signal", "rationale", "verification", "messages", "tsciq_policy")
    uses_llm = True
    backend_params = ("student",)

    def split(self, rows: list[dict[str, Any]], ctx: StepContext) -> set[int]:
        """Positions of the validation rows: a seeded share of each skill with 2+ rows."""
        by_skill: dict[str, list[int]] = defaultdict(list)
        for index, row in enumerate(rows):
            by_skill[str(row["skill"])].append(index)
        held_out: set[int] = set()
        for skill, indices in by_skill.items():
            if len(indices) >= 2:
                count = max(
                    1, min(len(indices) - 1, round(len(indices) * self.params.validation_share))
                )
                held_out |= set(random.Random(ctx.seed("split", skill)).sample(indices, count))
        return held_out

    async def student_answer(
        self,
        row: dict[str, Any],
        signal: str,
        train: list[dict[str, Any]],
        llm: LLMClient,
        ctx: StepContext,
    ) -> dict[str, Any]:
        p = self.params
        shots = [
            {"problem": problem_text(t, with_answer=False), "rationale": t[signal]["rationale"]}
            for t in train[: p.shots]
        ]
        prompt = render(
            __file__, "tsciq_student.j2", shots=shots, problem=problem_text(row, with_answer=False)
        )
        request = chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], signal),
        )
        text = (await llm.complete(request)).text.strip()
        verdict = answer_verdict(text, str(row["answer"]), p.last_number_fallback)
        return {
            "signal": signal,
            "shots": len(shots),
            "verification": verdict,
            "request": llm.key(request),
        }

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        validation = self.split(held, ctx)
        train_by_skill: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for index, row in enumerate(held):
            if index not in validation:
                train_by_skill[str(row["skill"])].append(row)
        llm = ctx.require_llm(self.params.student)
        asked = [(i, signal) for i in sorted(validation) for signal in SIGNALS]
        answers = await asyncio.gather(
            *(
                self.student_answer(
                    held[i], signal, train_by_skill[str(held[i]["skill"])], llm, ctx
                )
                for i, signal in asked
            )
        )
        errors: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SIGNALS, 0))
        by_row: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for (index, signal), answer in zip(asked, answers, strict=True):
            skill = str(held[index]["skill"])
            errors[skill][signal] += not answer["verification"]["verified"]
            by_row[index].append(answer)
        for index, row in enumerate(held):
            skill = str(row["skill"])
            if index in validation:
                yield dropped(
                    self,
                    row,
                    "held_out_validation",
                    f"validation row of skill {skill!r} (the student's test)",
                    0,
                    {"student_answers": by_row[index]},
                )
                continue
            yield self.taught(
                row, choose(errors.get(skill)), errors.get(skill), held, validation, llm
            )

    def taught(
        self,
        row: dict[str, Any],
        signal: str,
        skill_errors: dict[str, int] | None,
        held: list[dict[str, Any]],
        validation: set[int],
        llm: LLMClient,
    ) -> dict[str, Any]:
        skill = str(row["skill"])
        chosen = row[signal]
        policy = {
            "skill": skill,
            "errors": dict(skill_errors or dict.fromkeys(SIGNALS, 0)),
            "validation_ids": [
                held[i][META]["id"] for i in sorted(validation) if str(held[i]["skill"]) == skill
            ],
        }
        fields = {
            "signal": signal,
            "rationale": chosen["rationale"],
            "verification": chosen["verification"],
            "messages": [
                {"role": "user", "content": problem_text(row, with_answer=False)},
                {"role": "assistant", "content": chosen["rationale"]},
            ],
            "tsciq_policy": policy,
        }
        return derive(row, fields, step=self.name, method=self.method, model=llm.backend.describe())


def choose(skill_errors: dict[str, int] | None) -> str:
    """The authors' rule: QA-CoT for a skill whose PCoT student made more validation errors
    than its QA-CoT student, QA-PCoT otherwise (ties and skills without validation rows)."""
    if skill_errors and skill_errors["qa_pcot"] > skill_errors["qa_cot"]:
        return "qa_cot"
    return "qa_pcot"
