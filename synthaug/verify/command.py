"""``synthaug verify FILE``: re-check every record's ``verification`` from its stored evidence.

Code is re-executed in a fresh sandbox (no cached results) under the same rules
as the run (the OS boundary; tests and function calls in a process apart from
the code under test), answers are
re-extracted and re-compared, generated problems re-generated. Prints the
agreement per kind; exits 0 when every re-check agrees, 1 when one does not.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

from ..commands import command
from ..errors import InputError
from ..io import read_records
from ..resources import add_sandbox_option
from .evidence import reverify
from .sandbox import Sandbox

FIELD = "verification"


async def _recheck_all(
    path: str, records: list[dict[str, Any]], sandbox: Sandbox, progress: bool
) -> tuple[Counter, Counter, list[str]]:
    checked, agreed, disagreements = Counter(), Counter(), []
    started, done = time.monotonic(), 0
    shown = 0.0

    async def one(index: int, record: dict[str, Any]) -> None:
        nonlocal done, shown
        verification = record[FIELD]
        kind = verification.get("kind", "?")
        try:
            same = await reverify(verification, sandbox)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            problem = f"bad {FIELD} evidence in record {index + 1}: {error!r}"
            raise InputError(path, problem) from None
        checked[kind] += 1
        if same:
            agreed[kind] += 1
        else:
            disagreements.append(record.get("_meta", {}).get("id") or f"record {index + 1}")
        done += 1
        now = time.monotonic()
        if progress and (now - shown >= 0.5 or done == len(records)):
            shown = now
            rate = done / max(now - started, 1e-9)
            eta = (len(records) - done) / rate if rate else 0
            print(f"\rverified {done}/{len(records)}  {rate:.1f}/s  ETA {eta:.0f}s",
                  end="", file=sys.stderr, flush=True)  # fmt: skip

    await asyncio.gather(*(one(i, r) for i, r in enumerate(records)))
    if progress:
        print(file=sys.stderr)
    return checked, agreed, disagreements


def verify_file(path: str, progress: bool = True, unsafe: bool = False) -> dict[str, Any]:
    """The agreement report of ``path``'s records that carry a ``verification`` field;
    ``unsafe`` runs code without the OS boundary where it cannot be set up."""
    rows = list(read_records(path))
    records = [row for row in rows if isinstance(row.get(FIELD), dict)]
    sandbox = Sandbox(unsafe=unsafe)
    checked, agreed, disagreements = asyncio.run(_recheck_all(path, records, sandbox, progress))
    total = sum(checked.values())
    return {
        "file": str(path),
        "records": len(rows),
        "checked": total,
        "agreed": sum(agreed.values()),
        "agreement": round(sum(agreed.values()) / total, 4) if total else None,
        "verified_true": sum(1 for r in records if r[FIELD].get("verified")),
        "by_kind": {k: {"checked": n, "agreed": agreed[k]} for k, n in sorted(checked.items())},
        "disagreements": sorted(disagreements),
    }


def cmd_verify(args: Any) -> int:
    progress = not args.quiet and sys.stderr.isatty()
    report = verify_file(args.file, progress, unsafe=args.unsafe_sandbox)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['file']}: {report['checked']} of {report['records']} records carry "
              f"evidence; {report['agreed']} re-check the same "
              f"({report['verified_true']} verified)")  # fmt: skip
        for kind, counts in report["by_kind"].items():
            print(f"  {kind}: {counts['agreed']}/{counts['checked']}")
        for record_id in report["disagreements"]:
            print(f"  disagrees: {record_id}")
    if not report["checked"]:
        raise InputError(args.file, f"no record has a '{FIELD}' field")
    return 0 if not report["disagreements"] else 1


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "verify",
        help="re-check every record's verification from its stored evidence",
        description="Re-run each record's verification (answer check, sandboxed program, "
        "tests, function cases, generator, step labels, tool calls, API references, chart, scene "
        "and abstract-image answers, Coq proofs) from the "
        "evidence stored in the record, without the model; report the agreement. Exit 0 when "
        "all agree, 1 otherwise.",
    )
    parser.add_argument("file", help="data file whose records carry a 'verification' field")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    add_sandbox_option(parser)
    parser.set_defaults(handler=cmd_verify)
