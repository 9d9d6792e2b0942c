"""The live progress of a run on stderr: rows/s, tokens/s, cache hits, backend notes (e.g.
provider batches waiting), spend, errors, ETA. ``run_display`` picks the rich panel
(``panel.py``) on a terminal and the plain line of ``Progress`` otherwise (logs and tests
read that line)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from ..llm.client import ClientStats
from ..llm.spend import Spend
from .summary import StepStats

if TYPE_CHECKING:
    from .panel import Panel


@dataclass(frozen=True)
class Figures:
    """What a display shows besides the steps' own counters, read at one instant."""

    elapsed: float
    producing: str  # the last step giving rows, whose rate is shown
    rows_per_s: float
    tokens_per_s: float | None  # None: the run calls no model
    calls: int
    cache_hits: int
    waiting: int  # calls waiting because a server asked (Retry-After)
    wait_left: float
    notes: list[str]
    spent: str | None
    errors: int
    eta: float | None


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

    def figures(self) -> Figures:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        producing = self.producing_step()
        waiting, left = _server_waits(self.llm) if self.llm is not None else (0, 0.0)
        done = self.fraction_done()
        return Figures(
            elapsed=elapsed,
            producing=producing.name,
            rows_per_s=producing.rows_out / elapsed,
            tokens_per_s=self.llm.completion_tokens / elapsed if self.llm is not None else None,
            calls=self.llm.model_calls if self.llm is not None else 0,
            cache_hits=self.llm.cache_hits if self.llm is not None else 0,
            waiting=waiting,
            wait_left=left,
            notes=[text for text in (note() for note in self.notes) if text],  # e.g. batches
            spent=spend_text(self.spend) if self.spend is not None and self.spend.clients else None,
            errors=sum(sum(s.errors.values()) for s in self.steps),
            eta=elapsed * (1 - done) / done if done > 0 else None,
        )

    def line(self) -> str:
        f = self.figures()
        parts = [" ".join(f"{s.name}:{s.rows_out}" for s in self.steps)]
        parts.append(f"{f.rows_per_s:.1f} rows/s ({f.producing})")
        if f.tokens_per_s is not None:
            parts.append(f"{f.tokens_per_s:.0f} tok/s")
            parts.append(f"calls {f.calls} cache {f.cache_hits}")
            if f.waiting:  # a server asked to wait (Retry-After): say so, not stall silently
                parts.append(f"server asked to wait {f.wait_left:.0f}s ({f.waiting} calls)")
        parts.extend(f.notes)
        if f.spent is not None:
            parts.append(f"spent {f.spent}")
        parts.append(f"errors {f.errors}")
        if f.eta is not None:
            parts.append(f"ETA {clock(f.eta)}")
        parts.append(clock(f.elapsed))
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


def run_display(
    steps: list[StepStats],
    llm: ClientStats | None,
    total: int | None,
    notes: Sequence[Callable[[], str | None]] = (),
    spend: Spend | None = None,
) -> Progress | Panel:
    """The rich panel when stderr is a terminal, else the plain progress line."""
    progress = Progress(steps, llm, total, notes=notes, spend=spend)
    if not progress.tty:
        return progress
    from .panel import Panel  # rich is imported only for a terminal

    return Panel(progress)


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


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class CountProgress:
    """Progress of a counted loop (a curation pass, files read): done/total, items/s, ETA.

    ``unit`` names the items; the clock is checked every ``check_every`` items (cheap items,
    e.g. rows, are ticked by the thousand; slow ones, e.g. documents, one by one)."""

    def __init__(
        self,
        label: str,
        total: int | None,
        stream: TextIO | None = None,
        log_every: float = 10.0,
        unit: str = "rows",
        check_every: int = 1024,
    ):
        self.label, self.total, self.done = label, total, 0
        self.unit, self.check_every = unit, check_every
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.5 if self.tty else log_every
        self.start = time.monotonic()
        self._next = self.start + self.interval

    def tick(self, count: int = 1) -> None:
        self.done += count
        if self.done % self.check_every < count and time.monotonic() >= self._next:
            self.draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        shown = f"{self.done:,}" + (f"/{self.total:,}" if self.total else "")
        rate = self.done / elapsed
        parts = [
            f"{self.label}: {shown} {self.unit}",
            f"{rate:,.{0 if rate >= 10 else 1}f} {self.unit}/s",
        ]
        if self.total and self.done:
            parts.append(f"ETA {clock(elapsed * max(self.total - self.done, 0) / self.done)}")
        parts.append(clock(elapsed))
        return " | ".join(parts)

    def draw(self, final: bool = False) -> None:
        self._next = time.monotonic() + self.interval
        if self.tty:
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
