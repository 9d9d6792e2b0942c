"""Summary candidates for comparison (Stiennon et al., 2020, "Learning to summarize from human
feedback", arXiv 2009.01325).

Stiennon et al. sample summaries of Reddit TL;DR posts (reference summaries of 24-48 tokens)
from several policies, have humans pick the better of two, train a reward model on those
comparisons and fine-tune the policy against it with PPO. Here the comparing is done by a
model (``judge.pairwise`` with ``rubric: summarization``) and the policies are one model at
several temperatures.

``summarize.documents`` yields the ``document`` and ``title`` of a JSONL file (default: twelve
short documents written for this project: news items, science explainers and meeting notes).
``summarize.candidates`` writes, per document, ``per_temperature`` summaries at each of
``temperatures`` as ``completions`` (the shape of ``preference.responses``; ``temperature``
tells them apart in ``synthaug winrates --by temperature``) and the summarization request it
sent as ``instruction`` (the prompt of a preference pair). Summaries are asked for in at most
``max_words`` words (48 tokens was the paper's bound) and cut at ``max_tokens``; dropped:
``empty_document``.

The paper's policies are 1.3B-6.7B GPT-style models fine-tuned on TL;DR.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, SourceStep, StepContext
from ...io import read_records
from ...llm.types import chat
from ...records import META, source_record
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = "Stiennon et al., 2020, Learning to summarize from human feedback (arXiv 2009.01325)"
TAXONOMY = "synthesis / AI feedback (summary comparisons)"
STAGE = "preference alignment (summarization)"
BUILTIN = "summarize_documents"


def load_documents(path: str | None, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows with ``document`` (and ``title``) from ``path``, or the built-in documents."""
    if path is None:
        path = str(resources.files("synthaug") / "data" / f"{BUILTIN}.jsonl")
    rows = list(read_records(path, required=["document"]))
    return rows[:limit] if limit is not None else rows


class DocumentsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # default: the built-in documents
    count: int | None = Field(None, ge=1)


@register("summarize.documents", taxonomy="I/O (documents to summarize)", stage=STAGE, paper=PAPER)
class Documents(SourceStep):
    """Documents to summarize (default: 12 built-in news items, explainers, meeting notes)."""

    Params = DocumentsParams
    writes = ("document", "title")

    def expected_rows(self) -> int | None:
        return len(load_documents(self.params.path, self.params.count))

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or BUILTIN
        for index, row in enumerate(load_documents(self.params.path, self.params.count)):
            yield source_record(row, source=source, index=index)


class CandidatesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document_column: str = "document"
    temperatures: list[float] = Field(default_factory=lambda: [0.0, 0.7, 1.0], min_length=1)
    per_temperature: int = Field(1, ge=1, le=16)
    top_p: float = Field(1.0, ge=0, le=1)
    max_words: int = Field(40, ge=5)
    max_tokens: int = Field(96, ge=8)


@register("summarize.candidates", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Candidates(MapStep):
    """Summaries of a document at several temperatures, as completions to compare."""

    Params = CandidatesParams
    writes = ("instruction", "completions")
    uses_llm = True

    def input_columns(self) -> set[str]:
        return {self.params.document_column}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        document = str(row[p.document_column]).strip()
        if not document:
            return [dropped(self, row, "empty_document", "the document is empty", "none")]
        instruction = render(
            __file__, "summarize_request.j2", document=document, max_words=p.max_words
        )
        requests = [
            chat(
                ("user", instruction),
                n=p.per_temperature,
                temperature=t,
                top_p=p.top_p,
                max_tokens=p.max_tokens,
                seed=ctx.seed(row[META]["id"], "summary", k),
            )
            for k, t in enumerate(p.temperatures)
        ]
        llm = ctx.require_llm()
        replies = await asyncio.gather(*(llm.complete(r) for r in requests))
        model = llm.backend.describe()
        completions = [
            {
                "model": model,
                "backend": "default",
                "temperature": request.temperature,
                "principle": None,
                "system_prompt": None,
                "response": choice.text.strip(),
                "finish_reason": choice.finish_reason,
            }
            for request, reply in zip(requests, replies, strict=True)
            for choice in reply.choices[: p.per_temperature]
        ]
        fields = {"instruction": instruction, "completions": completions}
        return [self.derived(row, fields, ctx, requests)]
