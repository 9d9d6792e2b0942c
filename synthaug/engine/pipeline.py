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
The run folder (checkpoints, a shard's part) may be a URL (see ``storage``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..hashing import stable_hash
from ..io import AtomicWriter
from ..io.images import ImageStore
from ..llm.client import BudgetReached, ClientStats, LLMError
from ..records import META, failed
from .checkpoint import ShardStore
from .progress import run_display
from .resources import DEFAULT_BACKEND, RunResources
from .shards import (
    PART,
    Shard,
    check_shardable,
    failed_rows,
    merged_rows,
    part_paths,
    shard_totals,
    split_point,
)
from .step import MapStep, RowError, SourceStep, Step, StepContext, WholeStep
from .storage import Remote, record_writer, write_text
from .summary import StepStats, build_summary, render_summary

END = None
Emit = Callable[[int | None, dict[str, Any] | None], Awaitable[None]]  # (origin, row); END closes


@dataclass
class RunResult:
    """What a run wrote (nothing when ``stopped`` says why it stopped early) and its counters."""

    summary: dict[str, Any]
    data_path: Path | Remote
    summary_path: Path | Remote
    errors_path: Path | Remote | None
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
        run_dir: Path | Remote,
        resources: RunResources | None = None,
        limit: int | None = None,
        window: int | None = None,
        chunk_size: int = 64,
        progress: bool = True,
        provenance: dict[str, Any] | None = None,
        shard: Shard | None = None,
        merge: bool = False,
    ) -> RunResult:
        """Run to completion, writing ``out`` (and its errors and summary files) atomically.

        Starts the clients of ``resources`` first and closes them all at the end.
        ``provenance`` (how to reproduce the run: command, resolved recipe) goes into the
        summary as ``reproduce``. With ``shard``, runs only that shard's share of the prefix
        and writes its part under ``run_dir`` instead of ``out``; with ``merge``, runs the
        suffix on the merged parts of all shards (see ``synthaug.engine.shards``).
        """
        self.validate()
        if shard is not None:
            check_shardable(self.steps)
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
            shard,
            merge,
        )
        split = split_point(self.steps)
        if shard and (done := self._complete_part(settings, resources)):
            await resources.close()
            return done  # nothing to do: no model loaded
        running = self.steps[:split] if shard else self.steps[split:] if merge else self.steps
        try:  # a shard or merge whose steps call no model loads none
            if any(step.uses_llm or step.backend_names() for step in running):
                await resources.start()
            return await self._run(settings, resources)
        finally:
            await resources.close()

    def _prefix(self, settings: _Settings, resources: RunResources) -> str:
        """The fingerprint of a shard's work: the prefix's steps and models, and ``--limit``."""
        split = split_point(self.steps)
        return stable_hash([self.fingerprints(resources)[split - 1], settings.limit])

    def _complete_part(self, settings: _Settings, resources: RunResources) -> RunResult | None:
        """A shard's part when an earlier run of the same prefix completed it (its summary,
        written last, is there and names this fingerprint), else None."""
        assert settings.shard
        folder = settings.shard.folder(settings.run_dir)
        summary_path = folder / "part.summary.json"
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if summary.get("shard", {}).get("fingerprint") != self._prefix(settings, resources):
            return None
        errors = folder / "part.errors.jsonl"
        return RunResult(
            summary, folder / PART, summary_path, errors if errors.exists() else None, []
        )

    def fingerprints(self, resources: RunResources) -> list[str]:
        """Each step's fingerprint, chained: what it and every step before it do, with the
        identity of the models they call (a map step's checkpoints are kept under it)."""
        llm, backends = resources.llm, resources.backends
        chain = [stable_hash([self.seed, self.steps[0].fingerprint_fields()])]
        for step in self.steps[1:]:
            chain.append(
                stable_hash(
                    [
                        chain[-1],
                        step.fingerprint_fields(),
                        llm.identity if step.uses_llm and llm else None,
                        *(backends[name].identity for name in step.backend_names().values()),
                    ]
                )
            )
        return chain

    async def _run(self, settings: _Settings, resources: RunResources) -> RunResult:
        started = time.monotonic()
        split = split_point(self.steps)
        if settings.shard or settings.merge:
            prefix = self._prefix(settings, resources)
        if settings.shard:
            folder = settings.shard.folder(settings.run_dir)
            settings = replace(settings, out=folder / PART, run_dir=folder, prefix=prefix,
                               output=settings.out)  # fmt: skip
        elif settings.merge:
            settings = replace(settings, parts=part_paths(settings.run_dir, prefix))
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
        if settings.parts:
            failed.extend(failed_rows(settings.parts))
            settings = replace(settings, shard_llm=shard_totals(settings.parts, stats[:split]))
        stopped = None
        if isinstance(settings.out, Path):  # a remote file is written whole or not at all
            _remove_stale_temps(settings.out)
        if settings.shard:  # the part is incomplete until its summary is written again
            settings.out.with_name("part.summary.json").unlink(missing_ok=True)
        try:
            with record_writer(settings.out) as writer:
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
        split = split_point(self.steps)
        # the steps this process runs: all; a shard's prefix; or the suffix after a merge
        first, stop = (split, len(self.steps)) if settings.merge else (0, len(self.steps))
        if settings.shard:
            stop = split

        async def sink(origin: int | None, row: dict[str, Any] | None) -> None:
            if row is not END:
                writer.write({"o": origin, "row": row} if settings.shard else row)

        # step k reads queues[k - 1] and writes queues[k]; the last step writes to the sink
        emitters: list[Emit] = [_put(q) for q in queues[: stop - 1]] + [sink]
        llm, backends = resources.llm, resources.backends

        def stage(k: int) -> _Stage:
            step, counts = self.steps[k], stats[k]
            named = {
                name: backends[name].counting(counts.tally(name))
                for name in step.backend_names().values()
            }
            default = llm.counting(counts.tally(DEFAULT_BACKEND)) if llm else None
            output = settings.output or settings.out
            ctx = StepContext(default, self.seed, step.name, named, resources, output)
            if k == 0 and settings.shard:
                ctx.keeps = settings.shard.owns
            inbox = queues[k - 1] if k else None
            return _Stage(step, ctx, emitters[k], counts, failed, inbox)

        fingerprints = self.fingerprints(resources)
        async with asyncio.TaskGroup() as group:
            if settings.merge:
                group.create_task(_run_merged(settings.parts, emitters[split - 1]))
            else:
                group.create_task(_run_source(stage(0), settings.limit, settings.shard))
            for k in range(max(first, 1), stop):
                step = self.steps[k]
                if isinstance(step, WholeStep):
                    group.create_task(_run_whole(stage(k)))
                    continue
                assert isinstance(step, MapStep)
                shards = (
                    settings.run_dir / "checkpoints" / f"{k:02d}-{step.name}-{fingerprints[k][:12]}"
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
            with record_writer(errors_path) as writer:
                writer.write_many(failed)
        elif not stopped:
            errors_path.unlink(missing_ok=True)
        outputs = {"data": str(out), "summary": str(summary_path)} if not stopped else {}
        if failed and not stopped:
            outputs["errors"] = str(errors_path)
        if settings.shard:  # a part holds the prefix's rows
            stats = stats[: split_point(self.steps)]
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
        if settings.shard:  # the merge checks that every part was made by the same prefix
            summary["shard"] = {**asdict(settings.shard), "fingerprint": settings.prefix}
        for name, value in (settings.shard_llm or {}).items():  # a merge: the shards' model use
            current = summary["llm"].get(name, 0)
            if isinstance(value, dict):  # answers per endpoint
                total = Counter(current or {}) + Counter(value)
                summary["llm"][name] = dict(sorted(total.items()))
            elif not isinstance(current, str):  # cost "unknown" stays unknown
                summary["llm"][name] = round(current + value, 6)
        if not stopped:
            write_text(summary_path, json.dumps(summary, indent=2) + "\n")
        errors = errors_path if failed and not stopped else None
        return RunResult(summary, out, summary_path, errors, stats, stopped)


@dataclass(frozen=True)
class _Settings:
    """How one run goes: where it writes, how many rows and how many in flight."""

    out: Path | Remote  # a shard's: its part
    run_dir: Path | Remote
    limit: int | None
    window: int
    chunk_size: int
    progress: bool
    provenance: dict[str, Any] | None = None
    shard: Shard | None = None  # run only this shard's prefix and write its part
    merge: bool = False  # run the suffix on the merged parts
    prefix: str | None = None  # a shard's prefix fingerprint (its part's summary names it)
    parts: list[Path | Remote] | None = None  # a merge's parts
    shard_llm: dict[str, Any] | None = None  # a merge's parts' model-use counters
    output: Path | None = None  # a shard's: the merged output, beside which steps write images


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

    async def route(self, row: dict[str, Any], origin: int | None = None) -> None:
        """A failed row (``_meta.error``) is counted and set aside; a good one is counted (with
        the step's ``row_counts``) and goes on, with the source position it came from
        (``origin``; None after a whole-input step)."""
        if error := row[META].get("error"):
            self.stats.errors[error["kind"]] += 1
            self.failed.append(row)
        else:
            self.stats.rows_out += 1
            self.stats.counts.update(self.step.row_counts(row))
            await self.emit(origin, row)

    async def incoming(self) -> AsyncIterator[tuple[int | None, dict[str, Any]]]:
        """``(origin, row)`` pairs until the upstream step ends."""
        assert self.inbox is not None
        while (item := await self.inbox.get()) is not END:
            yield item


class TotalStats:
    """Live sums of several clients' ``ClientStats`` counters (read by progress and summary)."""

    def __init__(self, parts: list[ClientStats]):
        self.parts = parts

    def __getattr__(self, name: str) -> Any:
        values = [getattr(part, name) for part in self.parts]
        return sum(values[1:], values[0])


def _put(queue: asyncio.Queue) -> Emit:
    async def put(origin: int | None, row: dict[str, Any] | None) -> None:
        await queue.put(END if row is END else (origin, row))

    return put


async def _run_source(stage: _Stage, limit: int | None, shard: Shard | None = None) -> None:
    """Route the source's rows, each with its position; a shard keeps only its own (the
    ``limit`` counts the good rows of all shards, so every shard stops at the same row)."""
    source = stage.step
    assert isinstance(source, SourceStep)
    stats = stage.stats
    good = 0
    async with contextlib.aclosing(source.rows(stage.ctx)) as rows:  # type: ignore[type-var]
        async for position, row in _enumerate(rows):
            good += not row[META].get("error")
            if shard is None or shard.owns(position):
                await stage.route(row, position)
            if limit is not None and good >= limit:
                stats.usage_at_limit = {name: replace(t) for name, t in stats.usage.items()}
                break
    await stage.emit(None, END)


async def _enumerate(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[tuple[int, Any]]:
    position = 0
    async for row in rows:
        yield position, row
        position += 1


async def _run_merged(parts: list[Path | Remote] | None, emit: Emit) -> None:
    """Feed the shards' rows, in source order, to the first step of the suffix."""
    assert parts is not None
    for origin, row in merged_rows(parts):
        await emit(origin, row)
    await emit(None, END)


async def _run_whole(stage: _Stage) -> None:
    """Feed every input row to the step; rows it yields with ``_meta.error`` are counted as
    failed (like a map step's), the others go on."""
    step = stage.step
    assert isinstance(step, WholeStep)

    async def incoming() -> AsyncIterator[dict[str, Any]]:
        async for _, row in stage.incoming():
            stage.stats.rows_in += 1
            yield row

    async with contextlib.aclosing(step.transform(incoming(), stage.ctx)) as rows:  # type: ignore[type-var]
        async for row in rows:
            await stage.route(row)
    await stage.emit(None, END)


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
        async for origin, row in stage.incoming():
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
            await ordered.put((index, parent, origin, future))
            index += 1
        await ordered.put(END)

    async def release() -> None:
        while (item := await ordered.get()) is not END:
            index, parent, origin, future = item
            rows = await future
            unreleased.discard(future)
            slots.release()
            stats.rows_in += 1
            if store is not None:
                store.add(index, parent, rows)
            for row in rows:
                await stage.route(row, origin)
        await stage.emit(None, END)

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
    """Temp files left by a killed run (``.NAME.tmp-PID``) are never valid output; in the
    image store beside the output, those of writers no longer running."""
    if out.parent.is_dir():
        for stale in out.parent.glob(f".{out.stem}*.tmp-*"):
            stale.unlink(missing_ok=True)
        ImageStore.beside(out).sweep()
