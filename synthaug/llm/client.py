"""The client every step calls: cache first, then the backend under an adaptive limit.

Failed calls are retried with exponential backoff and jitter (honouring
``Retry-After`` up to the backend's ``max_retry_after``; a server asking for a
longer wait fails the request at once) when their kind is retryable; after the
last attempt, or for a non-retryable failure, ``LLMError`` carries the kind so
the step can store it in the row's ``_meta.error``. A reply without a usable
choice is a retryable ``bad_response`` and is never cached. Error texts are
redacted of credentials (``Backend.redact``). Counters feed the run summary.

A call, once sent, runs to its end even when the step awaiting it is cancelled, so
its answer lands in the cache (``drain`` waits for such calls; ``close`` cancels
them). ``guard``, when set, is called before each call is sent and may refuse it
with ``BudgetReached``. ``counting`` gives a step its own view of the client whose
answers are also counted in the step's ``Tally``.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import astuple, dataclass, field

from .backend import Backend, BackendCallError, check_completion
from .cache import RequestCache, request_key
from .concurrency import AdaptiveLimiter, backoff_delay
from .types import ChatRequest, Completion


class LLMError(Exception):
    """A model call that failed for good; ``kind`` is e.g. rate_limit, timeout, bad_request."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class BudgetReached(BaseException):
    """The run's budget is spent: no new call may be sent. A ``BaseException``, so that no
    ``except Exception`` in a step turns it into a failed row; the run stops on it."""


@dataclass
class Tally:
    """The answers one step asked one client for, cached ones included, and their tokens."""

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.cache_hits += completion.cached
        self.prompt_tokens += completion.usage.prompt_tokens
        self.completion_tokens += completion.usage.completion_tokens

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass
class ClientStats:
    """What the run summary reports about model use."""

    model_calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_completion_tokens: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    endpoints: Counter[str] = field(default_factory=Counter)  # answers per replica URL
    waiting: dict[int, float] = field(default_factory=dict)  # waits on Retry-After: id -> until

    def longest_wait(self) -> tuple[int, float]:
        """How many calls now wait because a server asked (Retry-After), and the longest's seconds left."""
        now = time.monotonic()
        left = [until - now for until in self.waiting.values() if until > now]
        return len(left), max(left, default=0.0)


class LLMClient:
    """Cache-aware, retrying, concurrency-limited access to one backend."""

    def __init__(
        self,
        backend: Backend,
        cache: RequestCache | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.5,
    ):
        self.backend, self.cache = backend, cache
        self.max_retries, self.backoff_base = max_retries, backoff_base
        self.limiter = AdaptiveLimiter(backend.max_concurrency)
        self.stats = ClientStats(endpoints=backend.endpoint_counts())
        self.guard: Callable[[], None] | None = None
        self._identity: str | None = None
        self._tallies: tuple[Tally, ...] = ()
        self._in_flight: set[asyncio.Task[Completion]] = set()
        self._root = self  # the client that views (``counting``) send their calls through

    def counting(self, tally: Tally) -> LLMClient:
        """A view of this client whose answers are also counted in ``tally``; its calls go
        through this client (same backend, cache, limits, stats, guard and calls in flight)."""
        self.identity  # noqa: B018 - computed once, shared by every view
        view = copy.copy(self)
        view._tallies = (*self._tallies, tally)
        return view

    @property
    def identity(self) -> str:
        """The backend's model identity (weights hash or endpoint + model)."""
        if self._identity is None:
            hasher = self.cache.file_hash if self.cache else _uncached_file_hash
            self._identity = self.backend.identity(hasher)
        return self._identity

    def key(self, request: ChatRequest) -> str:
        """The request's content address (also stored in ``_meta.request``)."""
        return request_key(self.identity, request)

    async def complete(self, request: ChatRequest, *, count: bool = True) -> Completion:
        """The completion for ``request``, from the cache when it has been paid for before.

        ``count=False`` leaves counting the answer in the step's tallies to the caller
        (``count``), for a caller that takes answers later than they arrive."""
        key = self.key(request)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.stats.cache_hits += 1
            self.stats.cached_completion_tokens += hit.usage.completion_tokens
            completion = hit.model_copy(update={"cached": True})
        else:
            root = self._root
            call = asyncio.ensure_future(root._call(key, request))
            root._in_flight.add(call)
            call.add_done_callback(root._in_flight.discard)
            completion = await asyncio.shield(call)
        if count:
            self.count(completion)
        return completion

    def count(self, completion: Completion) -> None:
        """Count an answer in this view's tallies."""
        for tally in self._tallies:
            tally.add(completion)

    async def _call(self, key: str, request: ChatRequest) -> Completion:
        """Call the backend (with retries), count the tokens and cache the answer."""
        completion = await self._call_with_retries(request)
        self.stats.prompt_tokens += completion.usage.prompt_tokens
        self.stats.completion_tokens += completion.usage.completion_tokens
        if self.cache is not None:
            self.cache.put(key, completion)
        return completion

    async def _call_with_retries(self, request: ChatRequest) -> Completion:
        for attempt in range(self.max_retries + 1):
            async with self.limiter:
                if self.guard is not None:
                    self.guard()
                try:
                    self.stats.model_calls += 1
                    completion = await self.backend.complete(request)
                    if (problem := check_completion(completion)) is not None:
                        raise BackendCallError("bad_response", problem)
                except BackendCallError as exc:
                    error = exc
                else:
                    self.limiter.on_success()
                    return completion
            if error.kind in ("rate_limit", "server_error", "timeout"):
                self.limiter.on_overload()
            message = self.backend.redact(str(error))
            cap = self.backend.max_retry_after
            if error.retryable and error.retry_after is not None and error.retry_after > cap:
                self.stats.failures[error.kind] += 1
                raise LLMError(
                    error.kind,
                    f"the server asked to retry after {error.retry_after:g}s, more than "
                    f"max_retry_after ({cap:g}s): {message}",
                ) from None
            if not error.retryable or attempt == self.max_retries:
                self.stats.failures[error.kind] += 1
                raise LLMError(error.kind, message) from None
            self.stats.retries += 1
            await self._wait(backoff_delay(attempt, error.retry_after, self.backoff_base), error)
        raise AssertionError("unreachable")

    async def _wait(self, delay: float, error: BackendCallError) -> None:
        """Sleep ``delay`` seconds; a wait the server asked for shows in the progress line."""
        if error.retry_after is None:
            await asyncio.sleep(delay)
            return
        token = id(asyncio.current_task())
        self.stats.waiting[token] = time.monotonic() + delay
        try:
            await asyncio.sleep(delay)
        finally:
            self.stats.waiting.pop(token, None)

    async def drain(self) -> None:
        """Wait for the calls in flight (their answers land in the cache)."""
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def close(self) -> None:
        """Cancel the calls still in flight and release the backend."""
        for call in self._in_flight:
            call.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self.backend.close()


def _uncached_file_hash(path: str) -> str:
    from ..hashing import file_sha256

    return file_sha256(path)
