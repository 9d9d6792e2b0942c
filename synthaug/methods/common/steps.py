"""Step bases without a model call: text-column map steps, whole-input steps that keep rows."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable
from typing import Any

from ...curate.text import row_text
from ...engine.step import MapStep, StepContext, WholeStep


class TextStep(MapStep):
    """A map step over one text column (``params.text_column``) whose records rewrite it."""

    def input_columns(self) -> set[str]:
        return {self.params.text_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | set(self.writes) | {self.params.text_column}


class KeepRows(WholeStep):
    """A whole-input step that keeps some of its rows, in input order.

    Subclasses choose from all the rows and their texts (the ``columns``
    param, one value per line); the choice runs in a worker thread.
    """

    def text_columns(self) -> list[str]:
        return list(self.params.columns)  # type: ignore[attr-defined]

    def input_columns(self) -> set[str]:
        return set(self.text_columns())

    @abstractmethod
    def kept(self, rows: list[dict[str, Any]], texts: list[str], ctx: StepContext) -> Iterable[int]:
        """Indices of the rows to keep."""

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        texts = [row_text(row, self.text_columns()) for row in held]
        keep = await asyncio.to_thread(self.kept, held, texts, ctx)
        for index in sorted(set(keep)):
            yield held[index]
