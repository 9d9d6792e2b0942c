"""One run at a time per output: a lock file held with ``flock`` beside the run's checkpoints.

The kernel releases the lock when its holder exits, however it exits (``kill -9`` included),
so a lock left by a dead run never blocks the next one; the file only keeps the holder's PID
for the message.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import SynthaugError
from .writers import output_errors


@contextmanager
def held_lock(path: Path, output: Path) -> Iterator[None]:
    """Hold ``path`` exclusively while the block runs; if another process holds it, a
    ``SynthaugError`` naming ``output`` and that process."""
    with output_errors(output):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until the block ends
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise SynthaugError(
                f"{output}: another synthaug run (pid {holder}) is writing it; "
                "wait for it to finish or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
