"""``synthaug ingest PATH... -o CHUNKS``: documents -> chunk rows with provenance."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..engine.progress import CountProgress
from ..errors import InputError
from ..ingest.corpus import ChunkingParams, IngestStats, ingest
from ..io.writers import AtomicWriter
from . import command
from .params import add_param_options, params_from_args


@command
def add_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "ingest",
        help="read PDF, HTML, Markdown, text and DOCX documents into chunks with provenance",
        description="Read documents (files, or folders recursively) and cut their text into "
        "token-counted chunks with overlap, never inside a word. One row per chunk: text, "
        "doc_id, chunk_id, tokens and source {path, page (PDFs, 1-based), start, end}, the "
        "offsets in the extracted text of that page or document. A document whose text was "
        "already read is skipped as a duplicate; an unreadable, encrypted or empty one is "
        "reported on stderr (one line each) and skipped.",
        epilog="Exits with code 2 when no document could be read or the output cannot be "
        "written; the output appears complete or not at all.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="file or folder")
    parser.add_argument(
        "-o", "--out", type=Path, required=True, help="chunks file (.jsonl or .parquet)"
    )
    add_param_options(parser, ChunkingParams)
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.set_defaults(handler=cmd_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    params = params_from_args(ChunkingParams, args)
    assert isinstance(params, ChunkingParams)
    stats = IngestStats()
    progress = None if args.quiet else CountProgress("ingest", None, unit="files", check_every=1)
    with AtomicWriter(args.out) as writer:
        writer.write_many(ingest(args.paths, params, stats, progress))
        for path, reason in stats.problems:
            print(f"synthaug: ingest: {path}: {reason} (skipped)", file=sys.stderr)
        for path, first in stats.duplicates:
            print(f"synthaug: ingest: {path}: same text as {first} (skipped)", file=sys.stderr)
        if not stats.documents:
            raise InputError(", ".join(map(str, args.paths)), "no document could be read")
    print(summary(stats, args.out))
    return 0


def summary(stats: IngestStats, out: Path) -> str:
    """One line: what was read and written, and what was skipped."""
    line = (
        f"ingest: {stats.documents} documents, {stats.pages} pages, "
        f"{stats.bytes / 1e6:.2f} MB -> {stats.chunks} chunks in {out}"
    )
    skipped = []
    if stats.duplicates:
        skipped.append(f"{len(stats.duplicates)} duplicate")
    if stats.problems:
        skipped.append(f"{len(stats.problems)} unreadable")
    return line + (f"; skipped {', '.join(skipped)}" if skipped else "")
