"""Replicas of one model behind several OpenAI-compatible URLs: which one takes the next call.

Each endpoint has its own cap on calls in flight and its own health. A call goes to the
healthy endpoint with the fewest calls in flight (ties to the lowest index) that has room;
an endpoint that failed to connect or answered 5xx is *down* for ``cooldown`` seconds (an
answer from it brings it back at once), so the client's retry of that call goes elsewhere.
When every endpoint is down, calls go to them anyway (the client's backoff paces them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence


def choose(in_flight: Sequence[int], cap: int, down: Sequence[bool]) -> int | None:
    """The index of the endpoint for the next call, or None when none may take it now.

    Among the healthy endpoints below ``cap``: the fewest in flight, ties to the lowest
    index. With no healthy endpoint at all, the same among the down ones."""
    pool = [i for i in range(len(in_flight)) if not down[i]] or range(len(in_flight))
    room = [i for i in pool if in_flight[i] < cap]
    return min(room, key=lambda i: (in_flight[i], i)) if room else None


class EndpointPool:
    """The live state of ``urls`` (in-flight counts, health, answers served)."""

    def __init__(self, urls: Sequence[str], cap: int, cooldown: float = 10.0):
        self.urls, self.cap, self.cooldown = list(urls), cap, cooldown
        self.in_flight = [0] * len(self.urls)
        self.down_until = [0.0] * len(self.urls)
        self.served: Counter[str] = Counter()  # answered calls per URL
        self._cond: asyncio.Condition | None = None

    def down(self) -> list[bool]:
        now = time.monotonic()
        return [until > now for until in self.down_until]

    def mark_down(self, index: int) -> None:
        self.down_until[index] = time.monotonic() + self.cooldown

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[int]:
        """Hold a slot on the chosen endpoint for one call; yields its index."""
        if self._cond is None:
            self._cond = asyncio.Condition()
        cond = self._cond
        async with cond:
            # a down endpoint comes back by time, not by a notify: look again each second
            while (index := choose(self.in_flight, self.cap, self.down())) is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cond.wait(), 1.0)
            self.in_flight[index] += 1
        try:
            yield index
        finally:
            async with cond:
                self.in_flight[index] -= 1
                cond.notify_all()

    def answered(self, index: int) -> None:
        """An answer came from endpoint ``index``: it is up; count it."""
        self.down_until[index] = 0.0
        self.served[self.urls[index]] += 1
