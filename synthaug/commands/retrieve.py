"""``synthaug retrieve CHUNKS QUERY...``: the best chunks of an ingested chunk set per query."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import read_records
from ..io.readers import read_numbered
from ..io.writers import AtomicWriter
from ..methods.grounded.retrieve import RetrievalParams, build_index
from ..resources import add_cache_options
from . import command
from .curation import embedder_of
from .params import DEST, add_param_options, params_from_args


@command
def add_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "retrieve",
        help="search an ingested chunk set: the top-k chunks per query, with their sources",
        description="Search the chunks of `synthaug ingest` by BM25 (bm25s), sentence "
        "embeddings (MiniLM or an endpoint) or both (reciprocal rank fusion). Queries come as "
        "arguments or from a file (--queries). Output: JSON lines, one per query: {query, "
        "hits: [{rank, chunk_id, doc_id, score, source, text}]} best first, on stdout or "
        "into -o (written whole or not at all).",
        epilog="Exits with code 2 on a missing or malformed chunks or queries file. BM25 leaves "
        "out chunks sharing no word with the query, so a query may get fewer than k hits.",
    )
    parser.add_argument("chunks", type=Path, metavar="CHUNKS", help="chunks file (ingest's)")
    parser.add_argument("queries", nargs="*", metavar="QUERY", help="a query")
    parser.add_argument("--queries", dest="queries_file", type=Path, metavar="FILE",
                        help="data file of queries (JSONL, JSON, CSV, Parquet)")  # fmt: skip
    parser.add_argument("--query-column", default="question",
                        help="the column of --queries holding the query (default: question)")  # fmt: skip
    parser.add_argument("-o", "--out", type=Path, help="output file (.jsonl); default: stdout")
    parser.add_argument("--no-text", action="store_true", help="leave the chunks' text out")
    parser.add_argument("-k", "--k", dest=DEST + "k", type=int, metavar="K",
                        help="chunks per query (default: 5)")  # fmt: skip
    add_cache_options(parser)  # before the params: --cache is the cache file here
    add_param_options(parser, RetrievalParams)
    parser.set_defaults(handler=cmd_retrieve)


def read_queries(args: argparse.Namespace) -> list[str]:
    """The queries of the arguments, then of ``--queries`` (a bad row: ``file:line``)."""
    queries = list(args.queries)
    if args.queries_file is not None:
        for line, row in read_numbered(args.queries_file):
            value = row.get(args.query_column)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{args.queries_file}:{line}",
                                 f"no text in column {args.query_column!r}")  # fmt: skip
            queries.append(value)
    if not queries:
        raise InputError("retrieve", "give a QUERY or --queries FILE")
    return queries


def cmd_retrieve(args: argparse.Namespace) -> int:
    params = params_from_args(RetrievalParams, args)
    assert isinstance(params, RetrievalParams)
    queries = read_queries(args)
    chunks = list(read_records(args.chunks, required=("text", "chunk_id")))
    if not chunks:
        raise InputError(str(args.chunks), "no chunks")
    index = build_index([str(c["text"]) for c in chunks], params,
                        lambda: embedder_of(params, args))  # fmt: skip
    results = index.search(queries, params.k)
    rows = []
    for query, hits in zip(queries, results, strict=True):
        found = []
        for rank, hit in enumerate(hits, start=1):
            chunk = chunks[hit.index]
            found.append({"rank": rank, "chunk_id": chunk["chunk_id"], "doc_id": chunk.get("doc_id"),
                          "score": round(hit.score, 6), "source": chunk.get("source")}
                         | ({} if args.no_text else {"text": chunk["text"]}))  # fmt: skip
        rows.append({"query": query, "hits": found})
    if args.out is None:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    with AtomicWriter(args.out) as writer:
        writer.write_many(rows)
    print(f"retrieve: {len(queries)} queries, {len(chunks)} chunks ({params.mode}) -> {args.out}",
          file=sys.stderr)  # fmt: skip
    return 0
