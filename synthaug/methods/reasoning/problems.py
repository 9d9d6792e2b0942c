"""Math word problems with gold answers: the source of the reasoning methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import SourceStep, StepContext
from ...io import read_records
from ...records import source_record
from ..registry import register

BUILTIN = "gsm_symbolic"


def load_problems(path: str | None, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows with ``question`` and ``answer`` (and ``solution`` when known) from ``path``, or the
    200 built-in GSM-Symbolic style problems."""
    if path is None:
        path = str(resources.files("synthaug") / "data" / f"{BUILTIN}.jsonl")
    rows = list(read_records(path, required=["question", "answer"]))
    return rows[:limit] if limit is not None else rows


class ProblemsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # default: the built-in GSM-Symbolic style problems
    count: int | None = Field(None, ge=1)


@register(
    "math_problems",
    taxonomy="I/O (questions with known answers)",
    stage="reasoning",
    paper="GSM8K-style problems from the GSM-Symbolic generators of reasoning-gym",
)
class Problems(SourceStep):
    """Questions with gold answers (default: 200 built-in GSM-Symbolic style problems)."""

    Params = ProblemsParams
    seed_data: ClassVar[dict[str, str]] = {"path": f"{BUILTIN}.jsonl"}
    writes = ("question", "answer")

    def expected_rows(self) -> int | None:
        return len(load_problems(self.params.path, self.params.count))

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or BUILTIN
        for index, row in enumerate(load_problems(self.params.path, self.params.count)):
            row["answer"] = str(row["answer"])
            yield source_record(row, source=source, index=index)
