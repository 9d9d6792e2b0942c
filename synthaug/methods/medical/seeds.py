"""Seed data of the medical recipes: consultations and textbook passages (packaged, written
for synthaug; see ``synthaug/data/LICENSES.md``), or any file of the same shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import SourceStep, StepContext
from ...errors import InputError
from ...records import source_record
from ..common.rows import packaged_rows
from ..common.sources import PackagedSource
from ..registry import register
from .dialogue import dialogue_problem, squeezed

CONSULTATIONS = "medical_consultations.jsonl"
PASSAGES = "medical_passages.jsonl"
STAGE = "domain applications (medicine)"


class ConsultationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(
        None, description="JSONL/JSON with a dialogue column (default: 24 shipped)"
    )
    count: int | None = Field(
        None, ge=1, description="the first COUNT consultations (default: all)"
    )


@register("medical.consultations", taxonomy="I/O (doctor-patient consultations)", stage=STAGE,
          paper="-")  # fmt: skip
class Consultations(SourceStep):
    """Doctor-patient consultations (default: 24 written for synthaug).

    They stand in for MedDialog / cMedQA2. Output columns: ``dialogue`` (patient-first alternating turns),
    ``question`` (the patient's first message) and ``department``."""

    Params = ConsultationParams
    params: ConsultationParams
    writes = ("dialogue", "question", "department")
    seed_data: ClassVar[dict[str, str]] = {"path": CONSULTATIONS}

    def load(self) -> list[dict[str, Any]]:
        rows = packaged_rows(self.params.path, CONSULTATIONS, ["dialogue"], self.params.count)
        source = self.params.path or CONSULTATIONS
        for number, row in enumerate(rows, 1):
            if problem := dialogue_problem(row["dialogue"]):
                raise InputError(source, problem, line=number, field="dialogue")
        return rows

    def expected_rows(self) -> int | None:
        return len(self.load())

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        for index, row in enumerate(self.load()):
            dialogue = [
                {"role": t["role"], "content": squeezed(t["content"])} for t in row["dialogue"]
            ]
            fields = {"dialogue": dialogue, "question": dialogue[0]["content"],
                      "department": row.get("department")}  # fmt: skip
            yield source_record(fields, source=self.params.path or CONSULTATIONS, index=index)


@register("medical.passages", taxonomy="I/O (medical pre-training text)", stage=STAGE, paper="-")
class Passages(PackagedSource):
    """Medical passages as pre-training text (default: 16 written for synthaug).

    Output columns: ``text`` and the file's others (the shipped file: ``id``, ``title``)."""

    builtin = PASSAGES
    required = ("text",)
