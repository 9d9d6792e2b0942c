"""Model-calling steps: a map step that asks about each row and parses the replies, and a
windowed loop for sources that generate until they have enough accepted items
(``generate_until``; ``generated_rows`` makes rows of its answers and error rows of its
failed calls).

``ModelStep`` follows distilabel's task (``format_input`` / ``format_output``) and Curator's
``prompt`` / ``parse``: a subclass writes ``requests`` (row -> requests) and ``parse``
(replies -> fields, raising ``RowError`` when they do not parse); the base makes the calls
and derives the record, and a ``RowError`` makes the row an error row. With several
requests, ``parse_reply`` may check each reply as it arrives, so a bad one stops the row
before the next call.
"""

from __future__ import annotations

import contextlib
import math
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from ...engine.step import MapStep, Step, StepContext
from ...engine.window import ordered_completions
from ...llm.client import LLMClient, LLMError
from ...llm.types import ChatRequest, Completion
from .rows import dropped


class ModelStep(MapStep):
    """A map step that completes ``requests(row)`` in order and derives ``parse(row, replies)``."""

    uses_llm = True

    @abstractmethod
    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        """The requests for ``row`` (raise ``RowError`` for a row that cannot be asked about)."""

    def parse_reply(self, row: dict[str, Any], reply: Completion) -> Any:
        """One reply, read as soon as it arrives (raise ``RowError`` to stop the row); by
        default the completion itself."""
        return reply

    @abstractmethod
    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any] | None:
        """The fields the replies (as ``parse_reply`` read them) give (raise ``RowError`` when
        they do not parse; None when the row is filtered out and yields nothing)."""

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        requests, llm = self.requests(row, ctx), ctx.require_llm()
        replies = [self.parse_reply(row, await llm.complete(request)) for request in requests]
        fields = self.parse(row, replies)
        if fields is None:
            return []
        return [self.derived(row, fields, ctx, requests)]


async def generate_until(
    llm: LLMClient,
    make_request: Callable[[int], ChatRequest],
    missing: Callable[[], int],
    max_requests: int,
    in_flight: int | None = None,
) -> AsyncIterator[tuple[int, ChatRequest, Completion | LLMError]]:
    """``(number, request, result)`` for requests ``make_request(0)``, ``make_request(1)``, ...
    in order, until ``missing()`` (items the consumer still needs) reaches 0 or
    ``max_requests`` were made.

    At most ``in_flight`` requests are outstanding (default: the backend's concurrency), and
    no more than the missing items need at the yield per request seen so far (one before
    any result): a small target on a wide backend does not send a burst of requests whose
    answers would be thrown away. ``missing`` is checked before each new request and after
    the consumer has handled each result, so a request is built (lazily) knowing what was
    accepted before it; results past the target are never yielded, and the calls already
    sent still finish and land in the cache (see ``ordered_completions``). Consume it under
    ``contextlib.aclosing``.
    """
    widest = in_flight or llm.backend.max_concurrency
    wanted = missing()
    handled = 0

    def window() -> int:
        accepted = wanted - missing()
        per_request = accepted / handled if handled else 1.0
        if per_request <= 0:
            return widest
        return max(1, min(widest, math.ceil(missing() / per_request)))

    def requests() -> Iterator[ChatRequest]:
        for number in range(max_requests):
            if missing() <= 0:
                return
            yield make_request(number)

    results = ordered_completions(llm, requests(), window)
    async with contextlib.aclosing(results):
        async for item in results:
            yield item
            handled += 1
            if missing() <= 0:
                break


async def generated_rows(
    step: Step,
    llm: LLMClient,
    make_request: Callable[[int], ChatRequest],
    missing: Callable[[], int],
    handle: Callable[[int, ChatRequest, Completion], Iterable[dict[str, Any]]],
    max_requests: int,
    in_flight: int | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """A source's rows: ``handle(number, request, answer)`` for each answer ``generate_until``
    gives (it reads ``missing()`` again once ``handle`` is done), an error row of ``step``
    (kind: the failure's) for each failed call."""
    results = generate_until(llm, make_request, missing, max_requests, in_flight)
    async with contextlib.aclosing(results):
        async for number, request, result in results:
            if isinstance(result, LLMError):
                yield dropped(step, None, result.kind, str(result), (number, "error"))
                continue
            for row in handle(number, request, result):
                yield row
