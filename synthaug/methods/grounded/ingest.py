"""The ``ingest`` source step: documents -> chunk rows with provenance (``synthaug.ingest``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from importlib import resources
from typing import Any, ClassVar

from pydantic import Field

from ...engine.step import SourceStep, StepContext
from ...errors import InputError
from ...ingest.corpus import ChunkingParams, IngestStats, ingest
from ...records import META, failed, record_id, source_record
from ..registry import register

DOCUMENTS = "documents/"  # under synthaug/data: the default documents (licences in LICENSES.md)


def packaged_documents() -> str:
    """The folder of documents shipped with synthaug, read when no ``paths`` are given."""
    return str(resources.files("synthaug") / "data" / DOCUMENTS)


class IngestParams(ChunkingParams):
    paths: list[str] | None = Field(
        None, min_length=1, description="document files or folders (default: synthaug's sample)"
    )


@register(
    "ingest",
    taxonomy="I/O (documents)",
    stage="any",
    paper="-",
)
class Ingest(SourceStep):
    """Documents (PDF, HTML, Markdown, text, DOCX; folders recursively) as token-counted chunks.

    Without ``paths``, the sample documents shipped in ``synthaug/data/documents``.

    Output columns: ``text``, ``doc_id``, ``chunk_id``, ``tokens`` and ``source`` = {``path``,
    ``page`` (PDFs, 1-based), ``start``, ``end``}: offsets in the extracted text of that page or
    document. A document whose text was already read is skipped; an unreadable one becomes an
    error row (kind ``unreadable_document``); none readable at all stops the run.
    """

    Params = IngestParams
    params: IngestParams
    seed_data: ClassVar[dict[str, str]] = {"paths": DOCUMENTS}
    writes = ("text", "doc_id", "chunk_id", "tokens", "source")

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        paths = p.paths or [packaged_documents()]
        stats = IngestStats()
        chunks: Generator[dict[str, Any], None, None] = ingest(
            paths, ChunkingParams(**p.model_dump(exclude={"paths"})), stats
        )
        index = 0
        try:
            # parsing is CPU work: off the event loop, so model-calling steps downstream go on
            while (row := await asyncio.to_thread(next, chunks, None)) is not None:
                row[META] = {"id": record_id(self.name, row["chunk_id"])}
                yield source_record(row, source=row["source"]["path"], index=index)
                index += 1
        finally:
            chunks.close()  # a run stopped early (--limit) ends the parsing thread now
        if not stats.documents:
            reasons = "; ".join(f"{path}: {reason}" for path, reason in stats.problems)
            raise InputError(", ".join(paths), f"no document could be read ({reasons})")
        for position, (path, reason) in enumerate(stats.problems):
            yield failed(
                None,
                {"source": {"path": path}},
                step=self.name,
                method=self.method,
                kind="unreadable_document",
                message=f"{path}: {reason}",
                index=("unreadable", position),
            )
