"""A map step that asks a judge (any backend, the ``judge`` param) one JSON question a row."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat, json_object
from ...records import META


class JsonJudge(MapStep):
    """Builds one request a row, parses the judge's reply as a JSON object, and keeps the row
    with the fields ``keep`` returns (``keep`` raises ``RowError`` to drop it)."""

    uses_llm = True
    backend_params = ("judge",)

    @abstractmethod
    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        """The judge's request for ``row``."""

    def schema_request(self, prompt: str, schema: dict[str, Any], seed: int) -> ChatRequest:
        """``prompt`` as one user turn decoded under ``schema``, with the params'
        ``temperature`` and ``max_tokens``."""
        p = self.params
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=schema, seed=seed)  # fmt: skip

    @abstractmethod
    def keep(self, row: dict[str, Any], reply: dict[str, Any], judge: str) -> dict[str, Any]:
        """The fields a passing row gets from the parsed ``reply`` of the ``judge`` backend."""

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row, seed)
        llm = ctx.require_llm(self.params.judge)
        reply = json_object((await llm.complete(request)).text)
        fields = self.keep(row, reply, llm.backend.describe())
        return [self.derived(row, fields, ctx, [request], llm=llm, seed=seed)]
