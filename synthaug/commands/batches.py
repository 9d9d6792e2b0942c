"""``synthaug batches list|cancel RUN``: the provider batches an ``openai_batch`` run submitted.

RUN is the run's output file or its run directory (``.<stem>.run`` beside the output), where
the backend records each batch. The live status comes from the server each batch was sent
to (its ``base_url`` is recorded with it); the API key from the environment variable the run
used (recorded by name, never its value) or from ``--api-key-env``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import SynthaugError
from ..llm.backend import BackendCallError
from ..llm.batch_api import TERMINAL, BatchAPI
from ..llm.batch_state import STATE_FILE, BatchRecord, BatchStore
from ..llm.openai_batch import OpenAIBatchBackend
from . import EPILOG, command
from .run import run_dir_for

Action = Callable[[BatchAPI, BatchRecord], Awaitable[str]]  # one batch -> the line to print


@command
def add_commands(commands: Any) -> None:
    batches = commands.add_parser(
        "batches",
        help="list or cancel the provider batches of an openai_batch run",
        description=__doc__,
        epilog=EPILOG,
    )
    actions = batches.add_subparsers(title="actions", required=True, metavar="ACTION")
    for name, summary, handler in (
        ("list", "each batch's id, status, request counts and created time", cmd_list),
        ("cancel", "cancel the run's batches that have not finished", cmd_cancel),
    ):
        parser = actions.add_parser(name, help=summary, description=summary, epilog=EPILOG)
        parser.add_argument("run", type=Path, help="the run's output file or its run directory")
        parser.add_argument(
            "--api-key-env", help="environment variable holding the API key (default: the run's)"
        )
        parser.set_defaults(handler=handler)


def cmd_list(args: argparse.Namespace) -> int:
    for line in asyncio.run(_each(args, _describe)):
        print(line)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    for line in asyncio.run(_each(args, _cancel)):
        print(line)
    return 0


async def _describe(api: BatchAPI, record: BatchRecord) -> str:
    if record.batch_id is None:
        return f"(file {record.input_file_id})  uploaded, not submitted  {record.total} requests"
    batch = await api.retrieve(record.batch_id)
    counts = batch.get("request_counts") or {}
    created = datetime.fromtimestamp(int(batch.get("created_at") or 0), UTC)
    return (
        f"{batch['id']}  {batch['status']}  completed {counts.get('completed', 0)}/"
        f"{counts.get('total', record.total)}  failed {counts.get('failed', 0)}  "
        f"created {created:%Y-%m-%d %H:%M:%SZ}  {record.model}"
    )


async def _cancel(api: BatchAPI, record: BatchRecord) -> str:
    if record.batch_id is None:
        return f"(file {record.input_file_id}): never submitted, nothing to cancel"
    status = (await api.retrieve(record.batch_id))["status"]
    if status in TERMINAL or status == "cancelling":
        return f"{record.batch_id}: already {status}"
    return f"{record.batch_id}: {(await api.cancel(record.batch_id))['status']}"


async def _each(args: argparse.Namespace, action: Action) -> list[str]:
    """``action`` on each batch recorded for RUN, oldest first, through its own endpoint."""
    backends: dict[tuple[str, str, str], OpenAIBatchBackend] = {}
    lines = []
    try:
        for record in _records(args.run):
            where = (record.base_url, record.model, args.api_key_env or record.api_key_env)
            backend = backends.get(where) or backends.setdefault(where, OpenAIBatchBackend(*where))
            try:
                lines.append(await action(backend.batch_api(), record))
            except BackendCallError as exc:
                raise SynthaugError(f"{record.base_url}: {backend.redact(str(exc))}") from None
    finally:
        for backend in backends.values():
            await backend.close()
    return lines


def _records(run: Path) -> list[BatchRecord]:
    run_dir = run if run.is_dir() else run_dir_for(run)
    path = run_dir / STATE_FILE
    if not path.is_file():
        raise SynthaugError(
            f"{run}: no batches recorded ({path} does not exist); give the output file of "
            "an openai_batch run or its run directory"
        )
    store = BatchStore(path, readonly=True)
    try:
        return store.all()
    finally:
        store.close()
