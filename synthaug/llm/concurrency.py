"""Adaptive concurrency (AIMD), retry backoff and the blocking retry loop for model calls.

The limiter lets at most ``limit`` calls run at once. It cuts the limit by a
quarter on overload signals (429, 5xx, timeouts) and climbs back by one slot
per ``limit`` successes, between 1 and the backend's maximum.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TypeVar

from .backend import BackendCallError

T = TypeVar("T")


class AdaptiveLimiter:
    """Additive-increase, multiplicative-decrease bound on calls in flight."""

    def __init__(self, maximum: int, decrease: float = 0.75):
        self.maximum, self.decrease = max(1, maximum), decrease
        self.limit = float(self.maximum)
        self.in_flight = 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> AdaptiveLimiter:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def on_success(self) -> None:
        self.limit = min(self.maximum, self.limit + 1.0 / self.limit)

    def on_overload(self) -> None:
        self.limit = max(1.0, self.limit * self.decrease)


def backoff_delay(
    attempt: int, retry_after: float | None, base: float = 0.5, cap: float = 30.0
) -> float:
    """Exponential backoff with full jitter; never shorter than the server's ``Retry-After``."""
    delay = random.uniform(0, min(cap, base * 2**attempt))
    return max(delay, retry_after) if retry_after is not None else delay


def call_with_retries(
    call: Callable[[], T], max_retries: int, base: float = 0.5, max_retry_after: float = 60.0
) -> T:
    """``call()`` in blocking code (embedding requests), retried as ``LLMClient`` retries model
    calls: a retryable ``BackendCallError`` waits ``backoff_delay``; the last error, or one
    whose ``Retry-After`` exceeds ``max_retry_after``, is raised."""
    for attempt in range(max_retries + 1):
        try:
            return call()
        except BackendCallError as error:
            too_long = (error.retry_after or 0) > max_retry_after
            if not error.retryable or attempt == max_retries or too_long:
                raise
            time.sleep(backoff_delay(attempt, error.retry_after, base))
    raise AssertionError("unreachable")
