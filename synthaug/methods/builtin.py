"""Generic steps every recipe can use: loading a data file and exact deduplication."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..engine.step import MapStep, SourceStep, StepContext
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


class DedupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)
    lowercase: bool = False
    collapse_whitespace: bool = True
    strip_punctuation: bool = False
    nfkc: bool = True


@register("dedup_exact", taxonomy="curation / deduplication", stage="any", paper="-")
class DedupExact(MapStep):
    """Drop rows whose normalised key columns repeat an earlier row (keeps the first)."""

    Params = DedupParams

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self._seen: set[tuple[str, ...]] = set()

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    def normalise(self, value: Any) -> str:
        text = "" if value is None else str(value)
        if self.params.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.params.lowercase:
            text = text.lower()
        if self.params.strip_punctuation:
            text = re.sub(r"[^\w\s]", "", text)
        if self.params.collapse_whitespace:
            text = " ".join(text.split())
        return text

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        key = tuple(self.normalise(row.get(c)) for c in self.params.columns)
        if key in self._seen:
            return []
        self._seen.add(key)
        return [row]
