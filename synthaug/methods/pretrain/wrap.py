"""WRAP, Web Rephrase Augmented Pre-training (Maini et al., 2024, "Rephrasing the Web",
arXiv 2401.16380).

WRAP has an instruction-tuned model rephrase web documents and pre-trains on
the real and the rephrased text together. Three steps implement it:

1. ``wrap.chunk`` splits each document (any column) into chunks of at most
   ``max_tokens`` tokens (paper: about 300, because longer passages lose
   information when rephrased). Tokens are estimated cheaply — the client
   exposes no tokenizer — as one per four characters, the usual rule of thumb
   for English BPE vocabularies; sentences are packed greedily, and a sentence
   longer than the budget is cut between words.
2. ``wrap.rephrase`` rewrites every chunk in each of the paper's four styles —
   easy (simple words a small child could follow), medium (high-quality,
   Wikipedia-like English), hard (terse, abstruse language) and Q/A
   (a question–answer conversation) — from a template whose one slot is the
   passage. Each record keeps ``original_chunk`` beside ``style`` and
   ``rephrased_text``. A first line that only announces the rewrite ("Here is
   the passage in simple words:") is dropped; an empty rephrase fails the row.
   The paper's sampling settings are not used here (not confirmed); temperature
   0.7 and 512 new tokens are this module's defaults.
3. ``wrap.mix`` emits the real chunks alongside the rephrases at a configurable
   real:synthetic ratio (paper: 1:1). Real chunks are taken in a seeded order,
   cycling when the ratio asks for more than there are; every record gets the
   training ``text`` and ``wrap_source`` (``real`` or ``synthetic``).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext, WholeStep
from ...llm.types import chat
from ...records import META, derive
from ..registry import register
from ..templates import render

PAPER = "Maini et al., 2024, WRAP / Rephrasing the Web (arXiv 2401.16380)"
TAXONOMY = "synthesis / data augmentation (rephrasing)"
STAGE = "pre-training"
Style = Literal["easy", "medium", "hard", "qa"]
STYLES: tuple[Style, ...] = ("easy", "medium", "hard", "qa")
CHARS_PER_TOKEN = 4
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def approx_tokens(text: str) -> int:
    """A cheap token count: about four characters per token."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def chunk_text(text: str, max_tokens: int = 300) -> list[str]:
    """``text`` as consecutive chunks of at most ``max_tokens`` (approximate) tokens."""
    pieces = [
        piece
        for sentence in SENTENCE_END.split(" ".join(text.split()))
        for piece in _fit(sentence, max_tokens)
    ]
    chunks: list[str] = []
    for piece in pieces:
        if chunks and approx_tokens(f"{chunks[-1]} {piece}") <= max_tokens:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks


def _fit(sentence: str, max_tokens: int) -> list[str]:
    """A sentence cut between words into parts that fit the budget (a long word stands alone)."""
    parts: list[str] = []
    for word in sentence.split():
        if parts and approx_tokens(f"{parts[-1]} {word}") <= max_tokens:
            parts[-1] = f"{parts[-1]} {word}"
        else:
            parts.append(word)
    return parts


def clean_rephrase(text: str) -> str:
    """The rephrase without a leading line that only announces it."""
    first, _, rest = text.strip().partition("\n")
    if first.rstrip().endswith(":") and len(first.split()) <= 15:
        return rest.strip()
    return text.strip()


class ChunkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str = "text"
    max_tokens: int = Field(300, ge=8)
    min_tokens: int = Field(0, ge=0)  # documents shorter than this are skipped


@register("wrap.chunk", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Chunk(MapStep):
    """WRAP: split documents into chunks of at most ~300 tokens for rephrasing."""

    Params = ChunkParams
    writes = ("original_chunk", "wrap_document", "wrap_chunk")

    def input_columns(self) -> set[str]:
        return {self.params.column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        document = str(row[p.column] or "")
        if approx_tokens(document) < max(p.min_tokens, 1):
            return []
        return [
            derive(
                row,
                {"original_chunk": chunk, "wrap_document": row[META]["id"], "wrap_chunk": index},
                step=self.name,
                method=self.method,
                index=index,
                keep_parent_fields=False,
            )
            for index, chunk in enumerate(chunk_text(document, p.max_tokens))
        ]


class RephraseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    styles: list[Style] = Field(default_factory=lambda: list(STYLES), min_length=1)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=8)


@register("wrap.rephrase", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rephrase(MapStep):
    """WRAP: rephrase each chunk in the easy, medium (Wikipedia-like), hard and Q/A styles."""

    Params = RephraseParams
    reads = ("original_chunk",)
    writes = ("style", "rephrased_text", "text", "wrap_source")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        records = []
        for index, style in enumerate(p.styles):
            seed = ctx.seed(row[META]["id"], style)
            request = chat(
                ("user", render(__file__, f"wrap_{style}.j2", passage=row["original_chunk"])),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                seed=seed,
            )
            rephrased = clean_rephrase((await llm.complete(request)).text)
            if not rephrased:
                raise RowError("empty_rephrase", f"the {style} rephrase is empty")
            fields = {
                "style": style,
                "rephrased_text": rephrased,
                "text": rephrased,
                "wrap_source": "synthetic",
            }
            records.append(self.derived(row, fields, ctx, [request], index=index, seed=seed))
        return records


class MixParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    real_per_synthetic: float = Field(1.0, ge=0)  # paper: 1:1


@register("wrap.mix", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Mix(WholeStep):
    """WRAP: emit real chunks beside the rephrases at a real:synthetic ratio (paper 1:1)."""

    Params = MixParams
    reads = ("original_chunk", "rephrased_text")
    writes = ("text", "wrap_source")

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        synthetic = [row async for row in rows]
        for row in synthetic + real_copies(synthetic, self.params.real_per_synthetic, ctx, self):
            yield row


def real_copies(
    synthetic: list[dict[str, Any]], ratio: float, ctx: StepContext, step: Mix
) -> list[dict[str, Any]]:
    """``round(ratio * len(synthetic))`` real-chunk records, each a child of its chunk."""
    chunks: dict[str, dict[str, Any]] = {}
    for row in synthetic:
        chunks.setdefault(row[META]["parents"][0], row)
    order = sorted(chunks)
    random.Random(ctx.seed("mix")).shuffle(order)
    wanted = round(ratio * len(synthetic))
    copies = []
    for number in range(wanted if order else 0):
        chunk_id = order[number % len(order)]
        row = chunks[chunk_id]
        fields = {
            "original_chunk": row["original_chunk"],
            "wrap_document": row.get("wrap_document"),
            "wrap_chunk": row.get("wrap_chunk"),
            "text": row["original_chunk"],
            "wrap_source": "real",
        }
        parent = {META: {"id": chunk_id}}
        copies.append(
            derive(
                parent,
                fields,
                step=step.name,
                method=step.method,
                index=number,
                wrap_copy=number // len(order),
            )
        )
    return copies
