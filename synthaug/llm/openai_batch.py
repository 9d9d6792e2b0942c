"""``openai_batch``: OpenAI-style requests sent through the provider's Batch API, at half price.

Spec: https://platform.openai.com/docs/api-reference/batch and /files. Requests that reach
``complete`` within ``collect_s`` of the first one (at most ``max_batch_requests``, 50,000
per the API, and 200 MB) become one input file of Batch lines ``{"custom_id", "method":
"POST", "url": "/v1/chat/completions" | "/v1/completions", "body"}`` — the body the ``openai``
backend would send (``wire_body``) — uploaded (``POST /files``, ``purpose=batch``) and
submitted (``POST /batches``, ``completion_window`` 24h). The batch is polled (``GET
/batches/{id}``, every ``poll_initial_s`` doubling up to ``poll_max_s``) until it is
completed, failed, expired or cancelled; each waiting ``complete`` then gets its answer from
the output or error file by ``custom_id``.

- ``custom_id`` is the request's cache key (``LLMClient.key``, stored in ``_meta.request``):
  the same request always gets the same id, and a record points at its batch line.
- The identity is the ``openai`` backend's, ``openai:{base_url}:{model}``, and so is
  ``describe()``: a batch runs the same model on the same request bodies as a live call, so
  its answers are interchangeable; the request cache and step checkpoints are shared both
  ways (switching between ``--backend openai`` and ``openai_batch`` pays for nothing twice)
  and records are the same whichever way they were answered.
- Nothing lost, no double spend: each batch and the custom_ids it holds are recorded in the
  run directory (``bind_run_dir``, ``batch_state``) once its file is uploaded and again once
  it is created. A restarted run follows the batch a request is in. Before creating a batch
  its input file is looked up in ``GET /batches`` (newest first), so a batch id lost to a
  kill or to a ``POST /batches`` that failed after the server made the batch is found
  again, and a file uploaded but never submitted is submitted without a new upload.
- A request a batch did not answer (an error line, a status other than 200, an unusable
  body, absent from an expired or failed batch) is resubmitted once, in a batch of its own
  with the others that batch missed; if that fails too, or if the batch was cancelled while
  this run waited on it (``synthaug batches cancel``), ``complete`` raises a non-retryable
  ``BackendCallError`` (a later run tries again).
- A failing Files/Batches call is retried here (backoff, ``Retry-After``); one that keeps
  failing fails the requests waiting on it once, as a non-retryable ``batch_api`` error:
  retried by the client, thousands of requests would each wait (and cut its concurrency)
  on their own. A later run follows the recorded batches.
- Without a run directory (library use) the state is kept in memory: nothing is resumable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..hashing import file_sha256
from .backend import BackendCallError, wire_body
from .batch_api import CHAT, COMPLETIONS, TERMINAL, BatchAPI, missing_reason, read_results
from .batch_state import STATE_FILE, BatchStore
from .cache import request_key
from .concurrency import backoff_delay
from .openai import OpenAIBackend
from .registry import register_backend
from .types import ChatRequest, Completion

MAX_FILE_BYTES = 200 * 1024 * 1024  # the Batch API's input file limit
CALL_RETRIES = 5  # retries of a failing Files/Batches call (backoff, Retry-After) before giving up
T = TypeVar("T")


@dataclass
class _Queue:
    """Batch lines collected for the next batch of one endpoint, sent when ``timer`` fires."""

    timer: asyncio.TimerHandle
    lines: dict[str, bytes] = field(default_factory=dict)  # custom_id -> JSONL line
    size: int = 0


@dataclass
class _Watch:
    """A batch being followed, and the requests of this run that wait on it."""

    endpoint: str
    waiters: set[str] = field(default_factory=set)


class OpenAIBatchBackend(OpenAIBackend):
    """An OpenAI-compatible Batch API (see the module docstring)."""

    name = "openai_batch"
    price_factor = 0.5

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_in_flight: int = 50_000,
        timeout: float = 120.0,
        schema_style: str = "openai",
        max_retry_after: float = 60.0,
        collect_s: float = 2.0,
        max_batch_requests: int = 50_000,
        poll_initial_s: float = 10.0,
        poll_max_s: float = 300.0,
        completion_window: str = "24h",
    ):
        super().__init__(
            base_url, model, api_key_env, max_in_flight, timeout, schema_style, max_retry_after
        )
        self.collect_s, self.max_batch_requests = collect_s, max_batch_requests
        self.poll_initial_s, self.poll_max_s = poll_initial_s, poll_max_s
        self.completion_window = completion_window
        self.waiting_batches: dict[str, dict[str, Any]] = {}  # input file id -> Batch object
        self._state_path: Path | str = ":memory:"
        self._store: BatchStore | None = None
        self._pending: dict[str, asyncio.Future[Completion]] = {}
        self._requests: dict[str, ChatRequest] = {}
        self._queues: dict[str, _Queue] = {}
        self._watches: dict[str, _Watch] = {}
        self._resubmitted: dict[str, str] = {}  # custom_id -> why its first batch missed it
        self._tasks: set[asyncio.Task[None]] = set()

    def bind_run_dir(self, path: Path) -> None:
        self._state_path = path / STATE_FILE

    def progress_note(self) -> str | None:
        if not self.waiting_batches:
            return None
        counts = [b.get("request_counts") or {} for b in self.waiting_batches.values()]
        done = sum(int(c.get("completed") or 0) + int(c.get("failed") or 0) for c in counts)
        total = sum(int(c.get("total") or 0) for c in counts)
        return f"batches waiting {len(self.waiting_batches)} ({done}/{total} requests done)"

    def custom_id(self, request: ChatRequest) -> str:
        """The request's cache key, as ``LLMClient.key`` computes it."""
        return request_key(self.identity(file_sha256), request)

    async def complete(self, request: ChatRequest) -> Completion:
        custom_id = self.custom_id(request)
        future = self._pending.get(custom_id)
        if future is None:
            future = self._pending[custom_id] = asyncio.get_running_loop().create_future()
            self._requests[custom_id] = request
            record = self._state().latest(custom_id)
            if record is None:
                self._enqueue(custom_id)
            else:
                self._watch(record.input_file_id, record.endpoint, [custom_id])
        return await asyncio.shield(future)

    async def close(self) -> None:
        for queue in self._queues.values():
            queue.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queues.clear()
        if self._store is not None:
            self._store.close()
            self._store = None
        await super().close()

    def _state(self) -> BatchStore:
        if self._store is None:
            self._store = BatchStore(self._state_path)
        return self._store

    def batch_api(self) -> BatchAPI:
        """This endpoint's Files and Batches calls, with this backend's key and redaction."""
        return BatchAPI(self.base_url, self._client(), self._headers, self.redact, self.timeout)

    def _line(self, custom_id: str) -> bytes:
        request = self._requests[custom_id]
        body = wire_body(request, model=self.model, schema_style=self.schema_style)
        line = {"custom_id": custom_id, "method": "POST", "url": _endpoint(request), "body": body}
        return json.dumps(line, ensure_ascii=False).encode() + b"\n"

    def _enqueue(self, custom_id: str) -> None:
        """Add the request to its endpoint's next batch; submit that when full or when
        ``collect_s`` has passed since its first request."""
        endpoint, line = _endpoint(self._requests[custom_id]), self._line(custom_id)
        queue = self._queues.get(endpoint)
        if queue is not None and queue.size + len(line) > MAX_FILE_BYTES:
            self._flush(endpoint)
            queue = None
        if queue is None:
            timer = asyncio.get_running_loop().call_later(self.collect_s, self._flush, endpoint)
            queue = self._queues[endpoint] = _Queue(timer)
        queue.lines[custom_id], queue.size = line, queue.size + len(line)
        if len(queue.lines) >= self.max_batch_requests:
            self._flush(endpoint)

    def _flush(self, endpoint: str) -> None:
        queue = self._queues.pop(endpoint, None)
        if queue is None:
            return
        queue.timer.cancel()
        self._spawn(self._submit(endpoint, queue.lines))

    async def _submit(self, endpoint: str, lines: dict[str, bytes]) -> None:
        """Upload one batch's input file and record it; then follow (create) the batch."""
        try:
            upload = await self._retrying(lambda: self.batch_api().upload(b"".join(lines.values())))
            self._state().add(
                upload["id"],
                custom_ids=lines,
                base_url=self.base_url,
                model=self.model,
                api_key_env=self.api_key_env,
                endpoint=endpoint,
                uploaded_at=int(upload.get("created_at") or 0),
            )
        except Exception as exc:  # every request of the batch fails with it (bugs included)
            self._fail(lines, exc)
            return
        self.calls += len(lines)
        self._watch(upload["id"], endpoint, lines)

    def _watch(self, file_id: str, endpoint: str, custom_ids: Iterable[str]) -> None:
        """Make ``custom_ids`` wait on the batch of ``file_id``, followed once per run."""
        watch = self._watches.get(file_id)
        if watch is None:
            watch = self._watches[file_id] = _Watch(endpoint)
            self._spawn(self._follow(file_id, watch))
        watch.waiters.update(custom_ids)

    async def _follow(self, file_id: str, watch: _Watch) -> None:
        """Create or find the batch, poll it to its end, read its files, then settle the
        waiting requests — and, for ``collect_s`` after each round, late ones for it."""
        api, chat = self.batch_api(), watch.endpoint == CHAT
        try:
            batch = await self._retrying(lambda: self._find_or_create(file_id, api))
            was_running = batch["status"] not in (*TERMINAL, "cancelling")
            batch = await self._poll(file_id, batch, api)
            outcomes: dict[str, Completion | str] = {}
            for key in ("error_file_id", "output_file_id"):  # an answer wins over an error
                if file := batch.get(key):
                    text = await self._retrying(lambda file=file: api.content(file))
                    outcomes.update(read_results(text, chat=chat, redact=self.redact))
        except Exception as exc:  # the waiting requests fail with it (bugs included)
            del self._watches[file_id]
            self._fail(watch.waiters, exc)
            return
        cancelled_here = was_running and batch["status"] == "cancelled"
        while watch.waiters:
            waiters, watch.waiters = watch.waiters, set()
            self._settle(watch.endpoint, waiters, batch, outcomes, cancelled_here)
            await asyncio.sleep(self.collect_s)
        del self._watches[file_id]

    async def _find_or_create(self, file_id: str, api: BatchAPI) -> dict[str, Any]:
        """The batch of a recorded input file: retrieved by its id; else found by its input
        file (a create that timed out, or a kill, lost the id); else created now."""
        record = self._state().get(file_id)
        if record.batch_id is not None:
            batch = await api.retrieve(record.batch_id)
        else:
            batch = None
            async for found in api.batches():  # newest first
                if found.get("input_file_id") == file_id:
                    batch = found
                    break
                if int(found.get("created_at") or 0) < record.uploaded_at - 60:
                    break
            batch = batch or await api.create(file_id, record.endpoint, self.completion_window)
        self._state().update(file_id, batch)
        return batch

    async def _poll(self, file_id: str, batch: dict[str, Any], api: BatchAPI) -> dict[str, Any]:
        """``batch`` once it has ended, recorded at each poll; shown while it runs."""
        delay = self.poll_initial_s
        try:
            while batch["status"] not in TERMINAL:
                self.waiting_batches[file_id] = batch
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.poll_max_s)
                batch = await self._retrying(lambda batch_id=batch["id"]: api.retrieve(batch_id))
                self._state().update(file_id, batch)
        finally:
            self.waiting_batches.pop(file_id, None)
        return batch

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` retried as the client retries model calls; a failure that lasts becomes
        one non-retryable ``batch_api`` error, so that the requests waiting on it fail once
        (a later run follows the recorded batches) rather than each retry on its own."""
        for attempt in range(CALL_RETRIES + 1):
            try:
                return await call()
            except BackendCallError as exc:
                wait = exc.retry_after or 0.0
                if not exc.retryable or attempt == CALL_RETRIES or wait > self.max_retry_after:
                    raise BackendCallError("batch_api", f"Batch API: {exc.kind}: {exc}") from None
                await asyncio.sleep(backoff_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    def _settle(
        self,
        endpoint: str,
        custom_ids: Iterable[str],
        batch: dict[str, Any],
        outcomes: dict[str, Completion | str],
        cancelled_here: bool,
    ) -> None:
        """Answer each request from the batch's results, or resubmit it once, or fail it."""
        retry: dict[str, bytes] = {}
        for custom_id in custom_ids:
            outcome = outcomes.get(custom_id)
            if outcome is None:
                outcome = missing_reason(batch)
            if isinstance(outcome, Completion):
                self._resolve(custom_id, outcome)
                continue
            reason = self.redact(f"batch {batch['id']}: {outcome}")
            if cancelled_here:
                message = f"{reason}; it was cancelled while this run waited, so not resubmitted"
                self._fail([custom_id], BackendCallError("batch_cancelled", message))
            elif custom_id in self._resubmitted:
                message = (
                    f"{self._resubmitted[custom_id]}; resubmitted once, then {reason}; "
                    "not resubmitted again (a later run tries again)"
                )
                self._fail([custom_id], BackendCallError("batch_failed", message))
            else:
                self._resubmitted[custom_id] = reason
                retry[custom_id] = self._line(custom_id)
        if retry:
            self._spawn(self._submit(endpoint, retry))

    def _resolve(self, custom_id: str, completion: Completion) -> None:
        self._requests.pop(custom_id, None)
        future = self._pending.pop(custom_id, None)
        if future is not None and not future.done():
            future.set_result(completion)

    def _fail(self, custom_ids: Iterable[str], error: Exception) -> None:
        for custom_id in list(custom_ids):
            self._requests.pop(custom_id, None)
            future = self._pending.pop(custom_id, None)
            if future is not None and not future.done():
                future.set_exception(error)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _endpoint(request: ChatRequest) -> str:
    return CHAT if request.is_chat else COMPLETIONS


class OpenAIBatchOptions(BaseModel):
    """A recipe's ``backend: {type: openai_batch, ...}``."""

    model_config = ConfigDict(extra="forbid")
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    schema_style: Literal["openai", "llamacpp"] = "openai"
    timeout: float = Field(120.0, gt=0)  # per HTTP call (upload, create, poll, download)
    max_retry_after: float = Field(60.0, gt=0)
    max_in_flight: int = Field(50_000, ge=1)  # requests waiting on batches at once
    collect_s: float = Field(2.0, ge=0)  # how long a batch collects requests before it is sent
    max_batch_requests: int = Field(50_000, ge=1, le=50_000)
    poll_initial_s: float = Field(10.0, gt=0)
    poll_max_s: float = Field(300.0, gt=0)
    completion_window: Literal["24h"] = "24h"


register_backend(
    "openai_batch",
    OpenAIBatchOptions,
    lambda o: OpenAIBatchBackend(**o.model_dump()),
    "an OpenAI-compatible Batch API (files + batches): half price, answers within 24 h, "
    "resumable by batch id",
)
