"""A one-line live progress display on stderr: rows/s, tokens/s, cache hits,
backend notes (e.g. provider batches waiting), errors, ETA."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from ..llm.client import ClientStats
from ..llm.spend import Spend
from .summary import StepStats


class Progress:
    """Redraws in place on a terminal; prints a plain line every ``log_every`` s otherwise."""

    def __init__(
        self,
        steps: list[StepStats],
        llm: ClientStats | None,
        total: int | None,
        stream: TextIO | None = None,
        log_every: float = 10.0,
        notes: Sequence[Callable[[], str | None]] = (),
        spend: Spend | None = None,
    ):
        self.steps, self.llm, self.total = steps, llm, total
        self.notes, self.spend = notes, spend
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.5 if self.tty else log_every
        self.start = time.monotonic()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        parts = [" ".join(f"{s.name}:{s.rows_out}" for s in self.steps)]
        producing = self.producing_step()
        parts.append(f"{producing.rows_out / elapsed:.1f} rows/s ({producing.name})")
        if self.llm is not None:
            parts.append(f"{self.llm.completion_tokens / elapsed:.0f} tok/s")
            parts.append(f"calls {self.llm.model_calls} cache {self.llm.cache_hits}")
            waiting, left = _server_waits(self.llm)
            if waiting:  # the server asked to wait (Retry-After): say so rather than stall silently
                parts.append(f"server asked to wait {left:.0f}s ({waiting} calls)")
        parts.extend(text for text in (note() for note in self.notes) if text)  # e.g. batches
        if self.spend is not None and self.spend.clients:
            parts.append(f"spent {spend_text(self.spend)}")
        parts.append(f"errors {sum(sum(s.errors.values()) for s in self.steps)}")
        if (done := self.fraction_done()) > 0:
            parts.append(f"ETA {_clock(elapsed * (1 - done) / done)}")
        parts.append(_clock(elapsed))
        return " | ".join(parts)

    def producing_step(self) -> StepStats:
        """The last step that has given rows: a whole-data step at the end (dedup) gives
        none until its input is complete, while the steps before it produce."""
        return next((s for s in reversed(self.steps) if s.rows_out), self.steps[-1])

    def fraction_done(self) -> float:
        """Source progress times the share of delivered rows the slowest later step has finished."""
        first = self.steps[0]
        if not self.total or not first.rows_out:
            return 0.0
        drained = min(
            (
                step.rows_in / upstream.rows_out if upstream.rows_out else 1.0
                for upstream, step in zip(self.steps, self.steps[1:], strict=False)
            ),
            default=1.0,
        )
        return min(first.rows_out / self.total, 1.0) * drained

    def draw(self, final: bool = False) -> None:
        text = self.line()
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    async def run(self) -> None:
        """Redraw until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.draw()


def spend_text(spend: Spend) -> str:
    """Dollars (or "cost unknown") and tokens spent so far, each against its budget if any."""
    cost, budget = spend.cost, spend.budget
    money = f"${cost:.4f}" if cost is not None else "cost unknown"
    if budget.max_cost is not None:
        money += f" of ${budget.max_cost:g}"
    tokens = f"{spend.tokens:,} tok"
    if budget.max_tokens is not None:
        tokens += f" of {budget.max_tokens:,}"
    return f"{money}, {tokens}"


def _server_waits(llm: ClientStats) -> tuple[int, float]:
    """Calls waiting on a server's Retry-After, and the longest wait left, over every client
    (``llm`` may be the pipeline's sum of several clients' stats, with ``parts``)."""
    found = [part.longest_wait() for part in getattr(llm, "parts", None) or [llm]]
    return sum(n for n, _ in found), max((left for _, left in found), default=0.0)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class CountProgress:
    """Progress of a counted loop (a curation pass): done/total, rows/s, ETA."""

    def __init__(
        self, label: str, total: int | None, stream: TextIO | None = None, log_every: float = 10.0
    ):
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.5 if self.tty else log_every
        self.start = time.monotonic()
        self._next = self.start + self.interval

    def tick(self, count: int = 1) -> None:
        self.done += count
        if self.done % 1024 < count and time.monotonic() >= self._next:
            self.draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        shown = f"{self.done:,}" + (f"/{self.total:,}" if self.total else "")
        parts = [f"{self.label}: {shown} rows", f"{self.done / elapsed:,.0f} rows/s"]
        if self.total and self.done:
            parts.append(f"ETA {_clock(elapsed * max(self.total - self.done, 0) / self.done)}")
        parts.append(_clock(elapsed))
        return " | ".join(parts)

    def draw(self, final: bool = False) -> None:
        self._next = time.monotonic() + self.interval
        if self.tty:
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
