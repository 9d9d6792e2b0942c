"""Documents -> chunk rows with provenance, shared by ``synthaug ingest`` and the ``ingest`` step.

One row per chunk::

    {"text", "doc_id", "chunk_id", "tokens",
     "source": {"path", "page", "start", "end"}}

``tokens`` is exactly the token count of ``text`` encoded alone (no special tokens), at most
``chunk_tokens`` unless the chunk is one longer word. ``page`` is 1-based for PDFs and None
otherwise; ``start``/``end`` are character offsets in the extracted text of that page (PDF) or
document, so ``text == extracted[start:end]``. Chunks never span PDF pages. ``doc_id`` is a hash of the document's extracted text, so a document whose text
was already read (the same file twice, a copy under another name) is skipped as a duplicate;
``chunk_id`` is ``doc_id:n``. Folders are walked recursively in name order, hidden entries
skipped; files of other types inside a folder are passed over, a named one is reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..engine.progress import CountProgress
from ..hashing import stable_hash
from .chunking import chunk_spans
from .extract import HtmlMode, Page, Unreadable, document_format, extract
from .tokens import TokenCounter, load_tokenizer

PREFETCH = 2  # documents parsed and tokenized ahead


class ChunkingParams(BaseModel):
    """How documents are read and cut (the ``ingest`` step's and command's options)."""

    model_config = ConfigDict(extra="forbid")
    chunk_tokens: int = Field(256, ge=8, description="tokens per chunk at most")
    overlap_tokens: int = Field(
        32, ge=0, description="tokens of whole words repeated from the previous chunk"
    )
    html: Literal["full", "main"] = Field(
        "full", description="HTML: full = all visible text; main = main content only (trafilatura)"
    )
    tokenizer: str | None = Field(
        None,
        description="a .gguf or tokenizer.json to count tokens with (default: the embedded model's)",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingParams:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("overlap_tokens must be smaller than chunk_tokens")
        return self


@dataclass
class IngestStats:
    """What one ingest saw: documents read, pages, bytes, chunks, duplicates and problems."""

    documents: int = 0
    pages: int = 0
    bytes: int = 0
    chunks: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, path it repeats)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def find_documents(paths: Iterable[str | Path], stats: IngestStats) -> list[Path]:
    """The document files under ``paths``; a missing path or a named file of another type is a
    problem in ``stats``."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found += sorted(
                p
                for p in given.rglob("*")
                if p.is_file()
                and document_format(p)
                and not any(part.startswith(".") for part in p.relative_to(given).parts)
            )
        elif not given.exists():
            stats.problems.append((str(given), "no such file or directory"))
        elif document_format(given) is None:
            stats.problems.append((str(given), f"not a supported document type ('{given.suffix}')"))
        else:
            found.append(given)
    return list(dict.fromkeys(found))


def ingest(
    paths: Iterable[str | Path],
    params: ChunkingParams,
    stats: IngestStats,
    progress: CountProgress | None = None,
) -> Generator[dict[str, Any], None, None]:
    """The chunk rows of every readable document under ``paths``, in path order; problems and
    duplicates go to ``stats`` (the caller reports them). The next documents are parsed in one
    thread and counted in another while this one is cut (PDFium and ``tokenizers`` release
    the GIL)."""
    files = find_documents(paths, stats)
    tokenizer = load_tokenizer(params.tokenizer)
    in_place, alone = TokenCounter(tokenizer), TokenCounter(tokenizer)  # a memo per thread
    seen: dict[str, str] = {}
    if progress is not None:
        progress.total = len(files)
    with ThreadPoolExecutor(1) as reader, ThreadPoolExecutor(1) as encoder:

        def ahead_of(path: Path) -> Future[_Read]:
            parsed = reader.submit(_read, path, params.html)
            return encoder.submit(_count, parsed, in_place)

        ahead = deque(ahead_of(path) for path in files[:PREFETCH])
        for index, path in enumerate(files):
            pages, counted, problem = ahead.popleft().result()
            if index + PREFETCH < len(files):
                ahead.append(ahead_of(files[index + PREFETCH]))
            if problem is not None:
                stats.problems.append((str(path), problem))
            else:
                doc_id = stable_hash([page.text for page in pages], 16)
                if doc_id in seen:
                    stats.duplicates.append((str(path), seen[doc_id]))
                else:
                    seen[doc_id] = str(path)
                    stats.documents += 1
                    stats.pages += len(pages)
                    stats.bytes += path.stat().st_size
                    for row in _chunks(path, doc_id, pages, counted, params, alone):
                        stats.chunks += 1
                        yield row
            if progress is not None:
                progress.tick()
    if progress is not None:
        progress.draw(final=True)


# the pages, their words and tokens up to each word's end, or what is wrong
_Read = tuple[list[Page], list[tuple[np.ndarray, np.ndarray]], str | None]


def _read(path: Path, html: HtmlMode) -> _Read:
    try:
        return extract(path, html), [], None
    except Unreadable as exc:
        return [], [], str(exc)


def _count(parsed: Future[_Read], counter: TokenCounter) -> _Read:
    pages, _, problem = parsed.result()
    return pages, [counter.page(page.text) for page in pages], problem


def _chunks(
    path: Path,
    doc_id: str,
    pages: list[Page],
    counted: list[tuple[np.ndarray, np.ndarray]],
    params: ChunkingParams,
    alone: TokenCounter,
) -> Iterator[dict[str, Any]]:
    number = 0
    for page, (words, through) in zip(pages, counted, strict=True):
        text = page.text
        spans = chunk_spans(
            words,
            through,
            lambda i, text=text, words=words: alone.word(text[words[i, 0] : words[i, 1]]),
            params.chunk_tokens,
            params.overlap_tokens,
        )
        for span in spans:
            yield {
                "text": text[span.start : span.end],
                "doc_id": doc_id,
                "chunk_id": f"{doc_id}:{number}",
                "tokens": span.tokens,
                "source": {
                    "path": str(path),
                    "page": page.number,
                    "start": span.start,
                    "end": span.end,
                },
            }
            number += 1
