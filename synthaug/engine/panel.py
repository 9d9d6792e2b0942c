"""The live progress panel of a run on a terminal (rich): one row per step with its bar and
counters (in, out, reused, errors), then rows/s, tokens/s, model calls and cache hits,
server waits, backend notes, spend, errors, ETA and elapsed time — the figures of the
plain progress line (``Progress``), which it reads them from.

The panel is redrawn by the run's ticker, not by a thread of rich's. Stopping it (the run's
end, Ctrl-C, an error) leaves its last frame on screen, puts stderr back and shows the cursor;
the cursor is never hidden, so a run killed outright (SIGTERM, SIGKILL) cannot leave the
terminal without one. Only stderr is redirected while it is live: stdout (the summary, or a
pipe) is never touched.
"""

from __future__ import annotations

import asyncio

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .progress import Progress, clock
from .summary import StepStats


class Panel:
    """A rich ``Live`` panel over the counters of ``progress`` (which names the stream)."""

    def __init__(self, progress: Progress, console: Console | None = None):
        self.progress = progress
        self.console = console or Console(file=progress.stream)
        self.live = Live(
            console=self.console,
            get_renderable=self.render,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=True,  # a warning printed mid-run goes above the panel
        )

    def render(self) -> RenderableType:
        """The panel as it stands now."""
        return Group(self.steps_table(), self.footer())

    def steps_table(self) -> Table:
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("step")
        table.add_column("", width=24)
        for name in ("done", "in", "out", "reused", "errors"):
            table.add_column(name, justify="right")
        delivered: int | None = self.progress.total  # what the source is asked for, if known
        for step in self.progress.steps:
            table.add_row(step.name, *self._step_cells(step, delivered))
            delivered = step.rows_out
        return table

    def _step_cells(self, step: StepStats, delivered: int | None) -> list[RenderableType]:
        """Bar and counters of ``step``; ``delivered``: the rows given to it so far (the
        source: the rows asked for, None when unknown)."""
        is_source = step is self.progress.steps[0]
        done = step.rows_out if is_source else step.rows_in
        if delivered:
            bar = ProgressBar(total=delivered, completed=min(done, delivered), width=24)
            shown = f"{done}/{delivered}"
        else:
            bar, shown = ProgressBar(total=None, width=24), str(done)  # a pulsing bar
        errors = sum(step.errors.values())
        return [
            bar,
            shown,
            "" if is_source else str(step.rows_in),
            str(step.rows_out),
            str(step.reused),
            Text(str(errors), style="red" if errors else ""),
        ]

    def footer(self) -> Group:
        """Rates and model use on one line; spend, notes, errors and times on the next."""
        f = self.progress.figures()
        rates = [f"{f.rows_per_s:.1f} rows/s ({f.producing})"]
        status = []
        if f.tokens_per_s is not None:
            rates += [
                f"{f.tokens_per_s:.0f} tok/s",
                f"calls {f.calls}",
                f"cache hits {f.cache_hits}",
            ]
            if f.waiting:
                status.append(f"server asked to wait {f.wait_left:.0f}s ({f.waiting} calls)")
        status += f.notes
        if f.spent is not None:
            status.append(f"spent {f.spent}")
        status.append(Text(f"errors {f.errors}", style="red" if f.errors else ""))
        status.append(f"ETA {clock(f.eta)}" if f.eta is not None else "ETA -")
        status.append(f"elapsed {clock(f.elapsed)}")
        return Group(Text(" · ").join(map(Text, rates)), Text(" · ").join(map(_text, status)))

    def draw(self, final: bool = False) -> None:
        """Redraw in place; ``final``: the last frame, left on screen."""
        if final:
            self.live.stop()
        elif self.live.is_started:
            self.live.refresh()

    async def run(self) -> None:
        """Show the panel and redraw it until cancelled; stop it however the run ends."""
        self.live.start(refresh=True)
        self.console.show_cursor(True)
        try:
            while True:
                await asyncio.sleep(self.progress.interval)
                self.live.refresh()
        finally:
            self.live.stop()


def _text(part: str | Text) -> Text:
    return part if isinstance(part, Text) else Text(part)
