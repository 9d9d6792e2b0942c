"""Science questions with gold answers: the source of the science pipelines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import SourceStep, StepContext
from ...records import source_record
from ..common.rows import packaged_rows
from ..registry import register

BUILTIN = "science_questions.jsonl"


class QuestionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # default: the 24 packaged questions (6 skills of 4), solved
    count: int | None = Field(None, ge=1)


def options_text(choices: list[str] | None) -> str:
    """A question's options as ``(A) x (B) y ...`` (empty without options)."""
    return " ".join(f"({'ABCDEFGH'[i]}) {c}" for i, c in enumerate(choices or []))


@register(
    "science.questions",
    taxonomy="I/O (questions with known answers)",
    stage="domain (science)",
    paper="science questions with gold answers written for synthaug",
)
class Questions(SourceStep):
    """Science questions with gold answers, a skill and options where multiple choice.

    Output columns: ``question``, ``answer`` (the gold answer, text), ``skill``, ``subject``,
    ``choices`` (a list; empty for a free-answer question) and the file's other fields (the
    packaged file: ``id``, a worked ``solution``, ``smiles`` for the four compounds)."""

    Params = QuestionsParams
    seed_data: ClassVar[dict[str, str]] = {"path": BUILTIN}
    writes = ("question", "answer", "skill", "subject", "choices")

    def _rows(self) -> list[dict[str, Any]]:
        return packaged_rows(self.params.path, BUILTIN, ["question", "answer"], self.params.count)

    def output_columns(self, input_columns: set[str]) -> set[str]:
        first = next(iter(self._rows()), {})
        return input_columns | set(self.writes) | set(first)

    def expected_rows(self) -> int | None:
        return len(self._rows())

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or BUILTIN
        for index, row in enumerate(self._rows()):
            fields = {
                "skill": "general",
                "subject": "science",
                **row,
                "answer": str(row["answer"]),
                "choices": [str(c) for c in row.get("choices") or []],
            }
            yield source_record(fields, source=source, index=index)
