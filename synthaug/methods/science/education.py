"""Graded homework for education data (the survey's §3.6 education pipeline: GLAN syllabus +
Persona Hub students + graded homework with rubrics).

The ``education`` recipe composes existing steps with the three here: ``glan.taxonomy`` and
``glan.homework`` (GLAN, Li et al., 2024: homework questions about sampled class sessions and
key concepts, each with a reference answer), ``persona_hub.text_to_persona`` (Persona Hub, Ge
et al., 2024: who would read this homework; here, the student), then

1. ``education.rubric``: a teacher's rubric for the question, ``criteria`` criteria with 1-5
   points each, decoded under a JSON schema, informed by the reference answer;
2. ``education.student_answer``: the answer the persona would write, mistakes included;
3. ``education.grade``: the answer graded against the rubric, one score per criterion decoded
   under a JSON schema that allows only 0 up to that criterion's points, with a comment; the
   total and its share are computed here, never read from the model.

No paper prescribes this composition (the survey names it as an education pipeline); the
prompts are written for synthaug.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest, chat, object_schema
from ...records import META
from ..common.parsing import json_reply
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "the survey's education pipeline (Wang et al., 2024, §3.6), composing GLAN (Li et al., 2024, "
    "arXiv 2402.13064) and Persona Hub (Ge et al., 2024, arXiv 2406.20094)"
)
TAXONOMY = "synthesis / domain model distillation (graded homework)"
STAGE = "domain (education), instruction tuning / feedback"
MAX_POINTS = 5


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)

    def request(self, prompt: str, seed: int, schema: dict[str, Any] | None = None) -> ChatRequest:
        return chat(
            ("user", prompt),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            json_schema=schema,
            seed=seed,
        )


def rubric_schema(count: int) -> dict[str, Any]:
    criterion = object_schema(
        {
            "criterion": {"type": "string", "minLength": 3, "maxLength": 120},
            "points": {"enum": list(range(1, MAX_POINTS + 1))},
        }
    )
    return object_schema(
        {"criteria": {"type": "array", "items": criterion, "minItems": count, "maxItems": count}}
    )


def grade_schema(rubric: list[dict[str, Any]]) -> dict[str, Any]:
    """One property per criterion (``c1``, ``c2``, ...) whose points range over 0..max."""
    return object_schema(
        {
            f"c{i}": object_schema(
                {
                    "points": {"enum": list(range(0, int(c["points"]) + 1))},
                    "comment": {"type": "string", "maxLength": 300},
                }
            )
            for i, c in enumerate(rubric, 1)
        }
    )


class RubricParams(Sampling):
    criteria: int = Field(3, ge=1, le=10)


@register("education.rubric", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rubric(ModelStep):
    """Education: a teacher's rubric for a homework question (criteria with 1-5 points).

    Input columns: ``instruction`` (the question), ``output`` (the reference answer). Output
    columns: ``rubric`` (``[{criterion, points}]``)."""

    Params = RubricParams
    params: RubricParams
    reads = ("instruction", "output")
    writes = ("rubric",)

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        prompt = render(
            __file__,
            "education_rubric.j2",
            count=p.criteria,
            question=row["instruction"],
            reference=row["output"],
        )
        return [p.request(prompt, ctx.seed(row[META]["id"]), rubric_schema(p.criteria))]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        criteria = json_reply(replies[0]).get("criteria")
        if not isinstance(criteria, list) or len(criteria) != self.params.criteria:
            raise RowError("malformed_output", f"no rubric of {self.params.criteria} criteria")
        rubric = []
        for item in criteria:
            text, points = str(item.get("criterion", "")).strip(), item.get("points")
            if not text or points not in range(1, MAX_POINTS + 1):
                raise RowError(
                    "malformed_output", f"a criterion without text or 1-5 points: {item!r}"
                )
            rubric.append({"criterion": text, "points": points})
        return {"rubric": rubric}


@register("education.student_answer", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class StudentAnswer(ModelStep):
    """Education: the homework answered as the student persona would answer it.

    Input columns: ``instruction``, ``persona``. Output columns: ``student_answer``."""

    Params = Sampling
    params: Sampling
    reads = ("instruction", "persona")
    writes = ("student_answer",)

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        prompt = render(
            __file__, "education_answer.j2", persona=row["persona"], question=row["instruction"]
        )
        return [self.params.request(prompt, ctx.seed(row[META]["id"]))]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        answer = replies[0].text.strip()
        if not answer:
            raise RowError("empty_answer", "the student's answer is empty")
        return {"student_answer": answer}


class GradeParams(Sampling):
    temperature: float = Field(0.0, ge=0, le=2)


@register("education.grade", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Grade(ModelStep):
    """Education: the student's answer graded per rubric criterion (schema-bounded points).

    Input columns: ``instruction``, ``output``, ``rubric``, ``student_answer``. Output columns:
    ``grades`` (``[{criterion, max, points, comment}]``), ``score`` (``{points, max, share}``,
    computed) and ``messages`` (user: the question, the rubric and the answer; assistant: the
    grading)."""

    Params = GradeParams
    params: GradeParams
    reads = ("instruction", "output", "rubric", "student_answer")
    writes = ("grades", "score", "messages")

    def prompt(self, row: dict[str, Any]) -> str:
        return render(
            __file__,
            "education_grade.j2",
            question=row["instruction"],
            reference=row["output"],
            rubric=row["rubric"],
            answer=row["student_answer"],
        )

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        schema = grade_schema(row["rubric"])
        return [self.params.request(self.prompt(row), ctx.seed(row[META]["id"]), schema)]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        reply, grades = json_reply(replies[0]), []
        for i, criterion in enumerate(row["rubric"], 1):
            given = reply.get(f"c{i}")
            points = given.get("points") if isinstance(given, dict) else None
            if (
                not isinstance(points, int)
                or isinstance(points, bool)
                or not 0 <= points <= criterion["points"]
            ):
                raise RowError(
                    "malformed_output", f"criterion {i}: no points in 0..{criterion['points']}"
                )
            grades.append(
                {
                    "criterion": criterion["criterion"],
                    "max": criterion["points"],
                    "points": points,
                    "comment": str(given.get("comment", "")).strip(),
                }
            )
        earned, worth = sum(g["points"] for g in grades), sum(g["max"] for g in grades)
        feedback = (
            "\n".join(
                f"{g['criterion']}: {g['points']}/{g['max']}. {g['comment']}".strip()
                for g in grades
            )
            + f"\nTotal: {earned}/{worth}"
        )
        return {
            "grades": grades,
            "score": {"points": earned, "max": worth, "share": round(earned / worth, 4)},
            "messages": [
                {"role": "user", "content": self.prompt(row)},
                {"role": "assistant", "content": feedback},
            ],
        }
