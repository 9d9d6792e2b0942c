"""Generic steps every recipe can use: loading a data file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..engine.step import SourceStep, StepContext
from ..io import count_records, read_records
from ..records import source_record
from .registry import register


class LoadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    format: str = "auto"
    required: list[str] = Field(default_factory=list)


@register("load", taxonomy="I/O", stage="any", paper="-")
class Load(SourceStep):
    """Read rows from JSONL, JSON, CSV, Parquet or a Hugging Face datasets folder."""

    Params = LoadParams

    def output_columns(self, input_columns: set[str]) -> set[str]:
        first = next(iter(read_records(self.params.path, fmt=self.params.format)), {})
        return input_columns | set(first) | set(self.params.required)

    def expected_rows(self) -> int | None:
        return count_records(self.params.path, fmt=self.params.format)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        records = read_records(
            self.params.path, fmt=self.params.format, required=self.params.required
        )
        for index, record in enumerate(records):
            yield source_record(record, source=self.params.path, index=index)
