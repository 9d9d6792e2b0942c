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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..hashing import stable_hash
from ..io import AtomicWriter
from ..io.writers import write_text_atomic
from ..llm.client import ClientStats, LLMClient, LLMError
from ..records import META, derive
from ..verify.sandbox import Sandbox
from .checkpoint import ShardStore
from .progress import Progress
from .step import MapStep, RowError, SourceStep, Step, StepContext, WholeStep
from .summary import StepStats, build_summary, render_summary

END = None
Emit = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class RunResult:
    summary: dict[str, Any]
    data_path: Path
    summary_path: Path
    errors_path: Path | None

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
        llm: LLMClient | None = None,
        backends: dict[str, LLMClient] | None = None,
        limit: int | None = None,
        window: int | None = None,
        chunk_size: int = 64,
        progress: bool = True,
    ) -> RunResult:
        """Run to completion, writing ``out`` (and its errors and summary files) atomically.

        Starts ``llm`` and the named ``backends`` first and closes them all at the end.
        """
        self.validate()
        backends = backends or {}
        if self.uses_llm and llm is None:
            raise RecipeError("backend: this recipe calls a model but no backend is configured")
        if missing := self.backend_names - set(backends):
            raise RecipeError(f"backends: no client for {', '.join(sorted(missing))}")
        clients = ([llm] if llm else []) + list(backends.values())
        llm_stats = TotalStats([client.stats for client in clients]) if clients else None
        try:
            for client in clients:
                await client.backend.start()
            return await self._run(
                out, run_dir, llm, backends, llm_stats, limit, window, chunk_size, progress
            )
        finally:
            for client in clients:
                await client.close()

    async def _run(
        self, out, run_dir, llm, backends, llm_stats, limit, window, chunk_size, progress
    ) -> RunResult:
        started = time.monotonic()
        window = window or (llm.backend.max_concurrency * 4 if llm else 64)
        stats = [StepStats(step.name, step.method) for step in self.steps]
        total = limit or self.steps[0].expected_rows()  # type: ignore[attr-defined]
        display = Progress(stats, llm_stats, total) if progress else None  # type: ignore[arg-type]
        failed: list[dict[str, Any]] = []
        sandbox = Sandbox(cache=llm.cache if llm else None)
        out = Path(out)
        _remove_stale_temps(out)
        with AtomicWriter(out) as writer:
            ticker = asyncio.create_task(display.run()) if display else None
            try:
                await self._stream(
                    llm, backends, sandbox, writer, failed, stats, run_dir, limit, window,
                    chunk_size,
                )  # fmt: skip
            except BaseExceptionGroup as group:
                raise _first_leaf(group) from None
            finally:
                if ticker:
                    ticker.cancel()
            if display:
                display.draw(final=True)
        wall = time.monotonic() - started
        return self._finish(out, failed, stats, llm, llm_stats, sandbox, wall)

    async def _stream(
        self, llm, backends, sandbox, writer, failed, stats, run_dir, limit, window, chunk_size
    ) -> None:
        queues: list[asyncio.Queue] = [asyncio.Queue(maxsize=window) for _ in self.steps]

        async def sink(row: dict[str, Any] | None) -> None:
            if row is not END:
                writer.write(row)

        # step k reads queues[k - 1] and writes queues[k]; the last step writes to the sink
        emitters: list[Emit] = [q.put for q in queues[: len(self.steps) - 1]] + [sink]

        def context(step: Step) -> StepContext:
            named = {name: backends[name] for name in step.backend_names().values()}
            return StepContext(llm, self.seed, step.name, named, sandbox)

        fingerprint = stable_hash([self.seed, self.steps[0].fingerprint_fields()])
        async with asyncio.TaskGroup() as group:
            source = self.steps[0]
            group.create_task(
                _run_source(source, context(source), emitters[0], stats[0], limit, failed)  # type: ignore[arg-type]
            )
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
                    group.create_task(
                        _run_whole(
                            step, context(step), queues[k - 1], emitters[k], stats[k], failed
                        )
                    )
                    continue
                assert isinstance(step, MapStep)
                store = (
                    ShardStore(
                        run_dir / "checkpoints" / f"{k:02d}-{step.name}-{fingerprint[:12]}",
                        chunk_size,
                    )
                    if step.checkpointed
                    else None
                )
                group.create_task(
                    _run_map(
                        step,
                        context(step),
                        queues[k - 1],
                        emitters[k],
                        stats[k],
                        store,
                        failed,
                        window,
                    )
                )

    def _finish(self, out, failed, stats, llm, llm_stats, sandbox, wall) -> RunResult:
        stem = out.with_suffix("")
        errors_path = stem.with_name(stem.name + ".errors.jsonl")
        summary_path = stem.with_name(stem.name + ".summary.json")
        if failed:
            failed.sort(key=lambda r: r[META]["id"])
            with AtomicWriter(errors_path) as writer:
                writer.write_many(failed)
        else:
            errors_path.unlink(missing_ok=True)
        outputs = {"data": str(out), "summary": str(summary_path)}
        if failed:
            outputs["errors"] = str(errors_path)
        summary = build_summary(
            recipe=self.name,
            backend=llm.backend.describe() if llm else None,
            steps=stats,
            llm=llm_stats,  # type: ignore[arg-type]
            wall_s=wall,
            outputs=outputs,
            records=stats[-1].rows_out,
            error_records=len(failed),
            sandbox={"executions": sandbox.executions, "cache_hits": sandbox.cache_hits},
        )
        write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
        return RunResult(summary, out, summary_path, errors_path if failed else None)


class TotalStats:
    """Live sums of several clients' ``ClientStats`` counters (read by progress and summary)."""

    def __init__(self, parts: list[ClientStats]):
        self.parts = parts

    def __getattr__(self, name: str) -> Any:
        values = [getattr(part, name) for part in self.parts]
        return sum(values[1:], values[0])


async def _run_source(
    source: SourceStep,
    ctx: StepContext,
    emit: Emit,
    stats: StepStats,
    limit: int | None,
    failed: list[dict[str, Any]],
) -> None:
    async with contextlib.aclosing(source.rows(ctx)) as rows:  # type: ignore[type-var]
        async for row in rows:
            if limit is not None and stats.rows_out >= limit:
                break
            if error := row[META].get("error"):
                stats.errors[error["kind"]] += 1
                failed.append(row)
                continue
            stats.rows_out += 1
            await emit(row)
    await emit(END)  # type: ignore[arg-type]


async def _route(
    row: dict[str, Any], emit: Emit, stats: StepStats, failed: list[dict[str, Any]]
) -> None:
    """A failed row (``_meta.error``) is counted and set aside; a good one goes on."""
    if error := row[META].get("error"):
        stats.errors[error["kind"]] += 1
        failed.append(row)
    else:
        stats.rows_out += 1
        await emit(row)


async def _run_whole(
    step: WholeStep,
    ctx: StepContext,
    inbox: asyncio.Queue,
    emit: Emit,
    stats: StepStats,
    failed: list[dict[str, Any]],
) -> None:
    """Feed every input row to ``step``; rows it yields with ``_meta.error`` are counted as
    failed (like a map step's), the others go on."""

    async def incoming() -> AsyncIterator[dict[str, Any]]:
        while (row := await inbox.get()) is not END:
            stats.rows_in += 1
            yield row

    async with contextlib.aclosing(step.transform(incoming(), ctx)) as rows:  # type: ignore[type-var]
        async for row in rows:
            await _route(row, emit, stats, failed)
    await emit(END)  # type: ignore[arg-type]


async def _run_map(
    step: MapStep,
    ctx: StepContext,
    inbox: asyncio.Queue,
    emit: Emit,
    stats: StepStats,
    store: ShardStore | None,
    failed: list[dict[str, Any]],
    window: int,
) -> None:
    """Process rows with up to ``window`` in flight; emit results in input order."""
    done = store.load() if store else {}
    slots = asyncio.Semaphore(window if step.uses_llm else 1)
    ordered: asyncio.Queue = asyncio.Queue()

    async def attempt(row: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            return await step.process(row, ctx)
        except (RowError, LLMError) as exc:
            return [_failed(row, step, exc.kind, str(exc))]

    async def admit() -> None:
        index = 0
        while (row := await inbox.get()) is not END:
            await slots.acquire()
            parent = row[META]["id"]
            stored = done.get(index)
            if stored is not None and stored[0] == parent:
                future: asyncio.Future = asyncio.get_running_loop().create_future()
                future.set_result(stored[1])
                stats.reused += 1
            else:
                future = asyncio.ensure_future(attempt(row))
            await ordered.put((index, parent, future))
            index += 1
        await ordered.put(END)

    async def release() -> None:
        while (item := await ordered.get()) is not END:
            index, parent, future = item
            rows = await future
            slots.release()
            stats.rows_in += 1
            if store is not None:
                store.add(index, parent, rows)
            for row in rows:
                await _route(row, emit, stats, failed)
        if store is not None:
            store.flush()
        await emit(END)  # type: ignore[arg-type]

    async with asyncio.TaskGroup() as group:
        group.create_task(admit())
        group.create_task(release())


def _failed(row: dict[str, Any], step: Step, kind: str, message: str) -> dict[str, Any]:
    return derive(
        row,
        {},
        step=step.name,
        method=step.method,
        index=-1,
        error={"kind": kind, "message": message},
    )


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    """The exception that stopped a task group (task groups nest one per step)."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _remove_stale_temps(out: Path) -> None:
    """Temp files left by a killed run (``.NAME.tmp-PID``) are never valid output."""
    if out.parent.is_dir():
        for stale in out.parent.glob(f".{out.stem}*.tmp-*"):
            stale.unlink(missing_ok=True)
