"""Draw an image in a child process: ``python -m synthaug.media.render`` reads ``{"kind",
"args"}`` as JSON on stdin and writes the PNG bytes to stdout.

Plotting libraries keep global state and are not thread-safe; a child process per drawing
keeps them out of the run's event loop and threads, and a crash or hang of one drawing out
of the run (it becomes a row error).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

TIMEOUT_S = 60.0


def _drawers() -> dict[str, Callable[..., bytes]]:
    from . import charts

    return {"chart": charts.draw}


class RenderError(RuntimeError):
    """The child process failed (the message holds the end of its stderr)."""


async def render(kind: str, timeout: float = TIMEOUT_S, **args: Any) -> bytes:
    """The PNG bytes the drawer ``kind`` makes of ``args``, drawn in a child process."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "synthaug.media.render",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    payload = json.dumps({"kind": kind, "args": args}).encode()
    try:
        out, err = await asyncio.wait_for(child.communicate(payload), timeout)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise RenderError(f"drawing took over {timeout:g}s") from None
    if child.returncode != 0 or not out:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RenderError(tail[0][:300])
    return out


def main() -> None:
    request = json.load(sys.stdin)
    data = _drawers()[request["kind"]](**request["args"])
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
