"""The streaming pipeline and its local runner.

Rows flow from the source through the map steps as they are produced: there
is no barrier per batch or per step. Each model-calling map step keeps up to
``window`` rows in flight and emits results in input order, so the output
(and every id in it) is the same whatever order the model answered in. With
the request cache and the per-step shards, a run that is killed at any
instant and started again ends with the same records and no repeated calls.
Rows that fail keep a structured ``_meta.error`` and go to the errors file.
Besides the default client, steps may use named clients (a recipe's
``backends:``); the run starts and closes all of them, a step's checkpoint
fingerprint includes every backend it uses, and the summary adds up their counters.
Each step reaches its clients through a view that counts its answers in its own
``StepStats.usage``, so usage is attributed to steps however their calls interleave.
When the run's budget is spent (``BudgetReached``), the run stops: calls in flight
finish into the cache, finished rows are checkpointed, no output is written, and the
result says why it stopped; the same command with a larger budget resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..hashing import stable_hash
from ..io import AtomicWriter
from ..io.writers import write_text_atomic
from ..llm.client import BudgetReached, ClientStats, LLMError
from ..records import META, failed
from .checkpoint import ShardStore
from .progress import run_display
from .resources import DEFAULT_BACKEND, RunResources
from .step import MapStep, RowError, SourceStep, Step, StepContext, WholeStep
from .summary import StepStats, build_summary, render_summary

END = None
Emit = Callable[[dict[str, Any] | None], Awaitable[None]]  # END (None) closes the stream


@dataclass
class RunResult:
    """What a run wrote (nothing when ``stopped`` says why it stopped early) and its counters."""

    summary: dict[str, Any]
    data_path: Path
    summary_path: Path
    errors_path: Path | None
    steps: list[StepStats]
    stopped: str | None = None

    def render(self) -> str:
        return render_summary(self.summary)


class Pipeline:
    """A source step followed by map and whole-input steps; validated before anything runs."""

    def __init__(self, steps: list[Step], name: str = "pipeline", seed: int = 0):
        if not steps or not isinstance(steps[0], SourceStep):
            raise RecipeError("steps[0]: the first step must produce rows (a source)")
        for i, step in enumerate(steps[1:], 1):
            if not isinstance(step, MapStep | WholeStep):
                raise RecipeError(f"steps[{i}] ({step.name}): a source can only be the first step")
        self.steps, self.name, self.seed = steps, name, seed

    @property
    def uses_llm(self) -> bool:
        return any(step.uses_llm for step in self.steps)

    @property
    def backend_names(self) -> set[str]:
        """The named backends some step uses."""
        return {name for step in self.steps for name in step.backend_names().values()}

    def validate(self) -> None:
        """Check that every step's input columns are produced upstream."""
        columns = self.steps[0].output_columns(set())
        for i, step in enumerate(self.steps[1:], 1):
            missing = step.input_columns() - columns
            if missing:
                raise RecipeError(
                    f"steps[{i}] ({step.name}): needs column(s) {', '.join(sorted(missing))} "
                    f"that no earlier step provides (available: {', '.join(sorted(columns))})"
                )
            columns = step.output_columns(columns)

    async def run(
        self,
        *,
        out: Path,
        run_dir: Path,
        resources: RunResources | None = None,
        limit: int | None = None,
        window: int | None = None,
        chunk_size: int = 64,
        progress: bool = True,
        provenance: dict[str, Any] | None = None,
    ) -> RunResult:
        """Run to completion, writing ``out`` (and its errors and summary files) atomically.

        Starts the clients of ``resources`` first and closes them all at the end.
        ``provenance`` (how to reproduce the run: command, resolved recipe) goes into the
        summary as ``reproduce``.
        """
        self.validate()
        resources = resources or RunResources()
        if self.uses_llm and resources.llm is None:
            raise RecipeError("backend: this recipe calls a model but no backend is configured")
        if missing := self.backend_names - set(resources.backends):
            raise RecipeError(f"backends: no client for {', '.join(sorted(missing))}")
        llm = resources.llm
        settings = _Settings(
            Path(out),
            run_dir,
            limit,
            window or (llm.backend.max_concurrency * 4 if llm else 64),
            chunk_size,
            progress,
            provenance,
        )
        try:
            await resources.start()
            return await self._run(settings, resources)
        finally:
            await resources.close()

    async def _run(self, settings: _Settings, resources: RunResources) -> RunResult:
        started = time.monotonic()
        clients = resources.clients
        llm_stats = TotalStats([client.stats for client in clients]) if clients else None
        stats = [StepStats(step.name, step.method) for step in self.steps]
        source = self.steps[0]
        assert isinstance(source, SourceStep)
        total = settings.limit or source.expected_rows()
        notes = [client.backend.progress_note for client in clients]
        display = (
            run_display(stats, llm_stats, total, notes=notes, spend=resources.spend)  # type: ignore[arg-type]
            if settings.progress
            else None
        )
        failed: list[dict[str, Any]] = []
        stopped = None
        _remove_stale_temps(settings.out)
        try:
            with AtomicWriter(settings.out) as writer:
                ticker = asyncio.create_task(display.run()) if display else None
                try:
                    await self._stream(settings, resources, writer, stats, failed)
                except BaseExceptionGroup as group:
                    raise _first_leaf(group) from None
                finally:
                    if ticker:  # stopped before anything else is printed (the panel frees stderr)
                        ticker.cancel()
                        await asyncio.wait([ticker])
        except BudgetReached as reached:  # the writer dropped its temp file
            stopped = f"budget reached ({reached})"
            await resources.drain()
        if display:
            display.draw(final=True)
        wall = time.monotonic() - started
        return self._finish(settings, failed, stats, resources, llm_stats, wall, stopped)

    async def _stream(
        self,
        settings: _Settings,
        resources: RunResources,
        writer: AtomicWriter,
        stats: list[StepStats],
        failed: list[dict[str, Any]],
    ) -> None:
        queues: list[asyncio.Queue] = [asyncio.Queue(maxsize=settings.window) for _ in self.steps]

        async def sink(row: dict[str, Any] | None) -> None:
            if row is not END:
                writer.write(row)

        # step k reads queues[k - 1] and writes queues[k]; the last step writes to the sink
        emitters: list[Emit] = [q.put for q in queues[: len(self.steps) - 1]] + [sink]
        llm, backends = resources.llm, resources.backends

        def stage(k: int) -> _Stage:
            step, counts = self.steps[k], stats[k]
            named = {
                name: backends[name].counting(counts.tally(name))
                for name in step.backend_names().values()
            }
            default = llm.counting(counts.tally(DEFAULT_BACKEND)) if llm else None
            ctx = StepContext(default, self.seed, step.name, named, resources, settings.out)
            inbox = queues[k - 1] if k else None
            return _Stage(step, ctx, emitters[k], counts, failed, inbox)

        fingerprint = stable_hash([self.seed, self.steps[0].fingerprint_fields()])
        async with asyncio.TaskGroup() as group:
            group.create_task(_run_source(stage(0), settings.limit))
            for k, step in enumerate(self.steps[1:], 1):
                fingerprint = stable_hash(
                    [
                        fingerprint,
                        step.fingerprint_fields(),
                        llm.identity if step.uses_llm and llm else None,
                        *(backends[name].identity for name in step.backend_names().values()),
                    ]
                )
                if isinstance(step, WholeStep):
                    group.create_task(_run_whole(stage(k)))
                    continue
                assert isinstance(step, MapStep)
                shards = (
                    settings.run_dir / "checkpoints" / f"{k:02d}-{step.name}-{fingerprint[:12]}"
                )
                store = ShardStore(shards, settings.chunk_size) if step.checkpointed else None
                group.create_task(_run_map(stage(k), store, settings.window))

    def _finish(
        self,
        settings: _Settings,
        failed: list[dict[str, Any]],
        stats: list[StepStats],
        resources: RunResources,
        llm_stats: TotalStats | None,
        wall: float,
        stopped: str | None,
    ) -> RunResult:
        """The summary; unless the run ``stopped`` early, the errors and summary files too."""
        out = settings.out
        stem = out.with_suffix("")
        errors_path = stem.with_name(stem.name + ".errors.jsonl")
        summary_path = stem.with_name(stem.name + ".summary.json")
        if failed and not stopped:
            failed.sort(key=lambda r: r[META]["id"])
            with AtomicWriter(errors_path) as writer:
                writer.write_many(failed)
        elif not stopped:
            errors_path.unlink(missing_ok=True)
        outputs = {"data": str(out), "summary": str(summary_path)} if not stopped else {}
        if failed and not stopped:
            outputs["errors"] = str(errors_path)
        summary = build_summary(
            recipe=self.name,
            backend=resources.llm.backend.describe() if resources.llm else None,
            steps=stats,
            llm=llm_stats,  # type: ignore[arg-type]
            wall_s=wall,
            outputs=outputs,
            records=stats[-1].rows_out,
            error_records=len(failed),
            sandbox=resources.sandbox_counts(),
            spend=resources.spend,
            stopped=stopped,
            reproduce=settings.provenance,
        )
        if not stopped:
            write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
        errors = errors_path if failed and not stopped else None
        return RunResult(summary, out, summary_path, errors, stats, stopped)


@dataclass(frozen=True)
class _Settings:
    """How one run goes: where it writes, how many rows and how many in flight."""

    out: Path
    run_dir: Path
    limit: int | None
    window: int
    chunk_size: int
    progress: bool
    provenance: dict[str, Any] | None = None


@dataclass
class _Stage:
    """One step at work: its context, where its rows go, its counters; ``inbox`` feeds
    every step but the source."""

    step: Step
    ctx: StepContext
    emit: Emit
    stats: StepStats
    failed: list[dict[str, Any]]
    inbox: asyncio.Queue | None = None

    async def route(self, row: dict[str, Any]) -> None:
        """A failed row (``_meta.error``) is counted and set aside; a good one is counted (with
        the step's ``row_counts``) and goes on."""
        if error := row[META].get("error"):
            self.stats.errors[error["kind"]] += 1
            self.failed.append(row)
        else:
            self.stats.rows_out += 1
            self.stats.counts.update(self.step.row_counts(row))
            await self.emit(row)

    async def incoming(self) -> AsyncIterator[dict[str, Any]]:
        assert self.inbox is not None
        while (row := await self.inbox.get()) is not END:
            yield row


class TotalStats:
    """Live sums of several clients' ``ClientStats`` counters (read by progress and summary)."""

    def __init__(self, parts: list[ClientStats]):
        self.parts = parts

    def __getattr__(self, name: str) -> Any:
        values = [getattr(part, name) for part in self.parts]
        return sum(values[1:], values[0])


async def _run_source(stage: _Stage, limit: int | None) -> None:
    source = stage.step
    assert isinstance(source, SourceStep)
    stats = stage.stats
    async with contextlib.aclosing(source.rows(stage.ctx)) as rows:  # type: ignore[type-var]
        async for row in rows:
            await stage.route(row)
            if limit is not None and stats.rows_out >= limit:
                stats.usage_at_limit = {name: replace(t) for name, t in stats.usage.items()}
                break
    await stage.emit(END)


async def _run_whole(stage: _Stage) -> None:
    """Feed every input row to the step; rows it yields with ``_meta.error`` are counted as
    failed (like a map step's), the others go on."""
    step = stage.step
    assert isinstance(step, WholeStep)

    async def incoming() -> AsyncIterator[dict[str, Any]]:
        async for row in stage.incoming():
            stage.stats.rows_in += 1
            yield row

    async with contextlib.aclosing(step.transform(incoming(), stage.ctx)) as rows:  # type: ignore[type-var]
        async for row in rows:
            await stage.route(row)
    await stage.emit(END)


async def _run_map(stage: _Stage, store: ShardStore | None, window: int) -> None:
    """Process rows with up to ``window`` in flight; emit results in input order."""
    step, stats = stage.step, stage.stats
    assert isinstance(step, MapStep)
    done = store.load() if store else {}
    slots = asyncio.Semaphore(window if step.uses_llm else 1)
    ordered: asyncio.Queue = asyncio.Queue()
    unreleased: set[asyncio.Future] = set()  # rows being processed, or done and waiting

    async def attempt(row: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            return await step.process(row, stage.ctx)
        except (RowError, LLMError) as exc:
            return [failed(row, step=step.name, method=step.method, kind=exc.kind,
                           message=str(exc), index=-1)]  # fmt: skip

    async def admit() -> None:
        index = 0
        async for row in stage.incoming():
            await slots.acquire()
            parent = row[META]["id"]
            stored = done.get(index)
            if stored is not None and stored[0] == parent:
                future: asyncio.Future = asyncio.get_running_loop().create_future()
                future.set_result(stored[1])
                stats.reused += 1
            else:
                future = asyncio.ensure_future(attempt(row))
                unreleased.add(future)
            await ordered.put((index, parent, future))
            index += 1
        await ordered.put(END)

    async def release() -> None:
        while (item := await ordered.get()) is not END:
            index, parent, future = item
            rows = await future
            unreleased.discard(future)
            slots.release()
            stats.rows_in += 1
            if store is not None:
                store.add(index, parent, rows)
            for row in rows:
                await stage.route(row)
        await stage.emit(END)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(admit())
            group.create_task(release())
    finally:  # also when the run stops early: rows done so far are kept for the resume
        for future in unreleased:
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # seen: a row that failed after the run stopped
        if store is not None:
            store.flush()


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    """The exception that stopped a task group (task groups nest one per step)."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _remove_stale_temps(out: Path) -> None:
    """Temp files left by a killed run (``.NAME.tmp-PID``) are never valid output."""
    if out.parent.is_dir():
        for stale in out.parent.glob(f".{out.stem}*.tmp-*"):
            stale.unlink(missing_ok=True)
