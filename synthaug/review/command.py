"""``synthaug review DATA``: serve the co-annotation queue of DATA, or ``--export OUT`` it.

The first start imports DATA into the queue database (``--db``, default ``DATA.review.sqlite``);
later starts resume the same queue (a changed DATA is an error). The server prints one line
with its URL and token (with ``--annotators alice,bob``: one line per annotator, each with a
token of its own that decides who is recorded), serves until Ctrl+C (or SIGTERM, even when
started with SIGINT ignored, as a background job is), and every action is committed as it
happens.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from ..commands import command
from ..errors import SynthaugError
from ..resources import add_cache_options, resources_from_args
from .dataset import load_data, parse_labels
from .export import export_review
from .server import ANNOTATOR, ReviewApp, ReviewServer
from .store import ReviewStore

EPILOG = (
    "Keys: 1-9 pick a label, Enter/a accept the LLM's label, e edit (Ctrl+Enter saves), "
    "r reject, s skip; in --dialogue mode Ctrl+Enter accepts the proposed turns and asks for "
    "more, Escape leaves the text box, f finishes. Bad input exits with code 2."
)


def cmd_review(args: argparse.Namespace) -> int:
    if args.annotator_lease_seconds <= 0:
        raise SynthaugError("--annotator-lease-seconds: must be positive")
    if not 0 <= args.port <= 65535:
        raise SynthaugError("--port: must be 0-65535")
    if args.turns < 1 or args.max_tokens < 1:
        raise SynthaugError("--turns and --max-tokens: must be at least 1")
    annotators = _annotators(args.annotators)
    data = load_data(args.data, args.text_column, parse_labels(args.labels), args.dialogue)
    db = args.db or Path(f"{args.data}.review.sqlite")
    store = ReviewStore(db, lease_seconds=args.annotator_lease_seconds)
    fresh = store.import_rows(data.rows, data.queued, str(args.data))
    if args.export is not None:
        counts = export_review(
            store, args.export, args.text_column, args.keep_rejected, args.dialogue
        )
        detail = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()) if k != "written")
        print(f"review: {counts['written']:,} rows -> {args.export} ({detail})")
        return 0
    writer = _dialogue_writer(args) if args.dialogue else None
    app = ReviewApp(
        store, data.labels, args.text_column, writer, args.data.parent, users=annotators
    )
    try:
        server = ReviewServer(app, args.host, args.port)
    except OSError as exc:
        raise SynthaugError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    # Before the URL is printed: whoever reads it may stop the server at once. SIGINT
    # explicitly, since a process started with it ignored (a background job) inherits that.
    signal.signal(signal.SIGTERM, _interrupt)  # close the server and model cleanly
    signal.signal(signal.SIGINT, signal.default_int_handler)
    progress = store.progress()
    print(
        f"review: {'imported' if fresh else 'resumed'} {db}: {progress['done']:,} of "
        f"{progress['total']:,} queued items done; labels: {', '.join(data.labels) or '-'}"
    )
    for name, url in server.urls():
        who = f" as {name}" if name else ""
        print(f"review: open {url}{who}  (Ctrl+C stops; run again to resume)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if writer is not None:
            writer.close()
    return 0


def _annotators(value: str | None) -> list[str]:
    """The names of ``--annotators a,b``: unique, each a valid annotator id."""
    if value is None:
        return []
    names = [name.strip() for name in value.split(",") if name.strip()]
    bad = [name for name in names if not ANNOTATOR.match(name)]
    if not names or bad or len(set(names)) != len(names):
        raise SynthaugError(
            "--annotators: distinct names of 1-64 letters, digits, spaces or . @ + - _, "
            "separated by commas"
        )
    return names


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _dialogue_writer(args: argparse.Namespace) -> Any:
    """The LLM side of dialogue mode: the embedded model (or --model) behind the cache."""
    from ..recipe import BackendConfig
    from .dialogue import DialogueWriter

    client = resources_from_args(args, llm=BackendConfig(model=args.model, parallel=2)).llm
    assert client is not None
    asyncio.run(client.backend.start())  # a missing or broken model fails now, not on first use
    return DialogueWriter(client, turns=args.turns, max_tokens=args.max_tokens)


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "review",
        help="web app where humans check, fix and co-write LLM labels (or dialogues)",
        description="Serve a local web page where annotators review the LLM's labels of DATA "
        "(shown with its confidence and explanation) and accept, relabel, edit or reject "
        "each; several annotators may work at once (each item is leased to one). The queue is "
        "the rows with allocated_to == 'human' when DATA has that column, else every row. "
        "With --export, write every row with the final label and its source and exit.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "data", type=Path, metavar="DATA", help="JSONL, JSON, CSV, Parquet or datasets folder"
    )
    parser.add_argument("--db", type=Path, help="queue database (default: DATA.review.sqlite)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument("--text-column", default="text", help="the item's text column (text)")
    parser.add_argument(
        "--labels", help="comma-separated labels (default: the label values and label_votes keys)"
    )
    parser.add_argument(
        "--annotators",
        metavar="NAMES",
        help="comma-separated annotator names: each gets its own URL and token, and is recorded "
        "by its token (default: one shared token, annotators name themselves)",
    )
    parser.add_argument(
        "--annotator-lease-seconds",
        type=float,
        default=600,
        metavar="N",
        help="an unanswered item goes back to the queue after N seconds (600)",
    )
    parser.add_argument(
        "--export",
        type=Path,
        metavar="OUT",
        help="write the merged data (.jsonl or .parquet) and exit",
    )
    parser.add_argument(
        "--keep-rejected",
        action="store_true",
        help="with --export: keep rejected rows (label null, review_action reject); default: drop them",
    )
    dialogue = parser.add_argument_group("dialogue mode (Dialgen-style co-writing)")
    dialogue.add_argument(
        "--dialogue",
        action="store_true",
        help="co-write a dialogue per row from its 'scenario' (or text) column; saved as messages",
    )
    dialogue.add_argument(
        "--turns", type=int, default=2, help="turns the LLM proposes at a time (2)"
    )
    dialogue.add_argument("--max-tokens", type=int, default=96, help="tokens per proposal (96)")
    dialogue.add_argument("--model", help="GGUF model (default: the embedded SmolLM2-135M)")
    add_cache_options(dialogue)
    parser.set_defaults(handler=cmd_review)
