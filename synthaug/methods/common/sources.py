"""A source step over a data file shipped in ``synthaug/data`` (or the user's own file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import SourceStep, StepContext
from ...records import source_record
from .rows import packaged_rows


class PackagedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(None, description="a data file of your own (default: the shipped one)")
    count: int | None = Field(None, ge=1, description="the first count rows (default: all)")


class PackagedSource(SourceStep):
    """The rows of ``path``, or of the shipped file ``builtin``; each must have ``required``."""

    Params = PackagedParams
    builtin: ClassVar[str]
    required: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.seed_data = {"path": cls.builtin}
        cls.writes = cls.required

    def load(self) -> list[dict[str, Any]]:
        p = self.params
        return packaged_rows(p.path, self.builtin, list(self.required), p.count)

    def output_columns(self, input_columns: set[str]) -> set[str]:
        rows = self.load()
        return input_columns | set(self.required) | set(rows[0] if rows else {})

    def expected_rows(self) -> int | None:
        return len(self.load())

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        for index, row in enumerate(self.load()):
            yield source_record(row, source=self.params.path or self.builtin, index=index)
