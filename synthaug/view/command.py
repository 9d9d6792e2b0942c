"""``synthaug view FILE``: browse a data file in the browser, read-only.

Indexes FILE (and, beside a run's output, its errors file) without loading it, prints how long
that took and one line with the URL and its token, opens the browser unless ``--no-open``, and
serves on 127.0.0.1 until Ctrl+C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import webbrowser
from pathlib import Path
from typing import Any

from ..commands import command
from ..errors import SynthaugError
from .data import ViewData
from .page import KEYS
from .server import ViewApp, ViewServer


def cmd_view(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise SynthaugError("--port: must be 0-65535")
    data = ViewData(args.file)
    try:
        server = ViewServer(ViewApp(data=data), "127.0.0.1", args.port)
    except OSError as exc:
        raise SynthaugError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from exc
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    files = " + ".join(f"{p.source.path} ({len(p.source):,} rows)" for p in data.parts)
    rate = len(data) / data.build_s if data.build_s > 0 else float("inf")
    print(f"view: indexed {files} in {data.build_s:.2f} s ({rate:,.0f} rows/s)")
    print(f"view: open {server.url}  (Ctrl+C stops)", flush=True)
    data.count_facets()
    if not args.no_open:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        data.close()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "view",
        help="browse a data file in the browser: filters, search, lineage, preference pairs",
        description="Serve a read-only page on 127.0.0.1 (token in the printed URL) to browse "
        "FILE (.jsonl or .parquet) and, beside a run's output, its errors file: pages of any "
        "size file without loading it, filters by step, error kind, verification verdict and "
        "label, full-text search, and each record's detail with its lineage (from the run's "
        "checkpoints), verification evidence, chosen vs rejected side by side and its images.",
        epilog=KEYS + " Bad input exits with code 2.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="a .jsonl or .parquet file")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument(
        "--no-open", action="store_true", help="print the URL only; do not open a browser"
    )
    parser.set_defaults(handler=cmd_view)
