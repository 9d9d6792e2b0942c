"""Ordered, windowed model calls for generators whose next request depends on earlier answers."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator

from ..llm.client import LLMClient, LLMError
from ..llm.types import ChatRequest, Completion


async def ordered_completions(
    llm: LLMClient, requests: Iterator[ChatRequest], in_flight: int | Callable[[], int]
) -> AsyncIterator[tuple[int, ChatRequest, Completion | LLMError]]:
    """Keep ``in_flight`` requests outstanding; yield ``(index, request, result)`` in order.

    ``in_flight`` may be a callable, read each time a request could be sent (a window that
    follows what the consumer still needs).

    ``requests`` is pulled lazily, so a request built later sees what the
    consumer has learnt from earlier results. When the consumer stops early,
    the requests already sent still finish and land in the cache: a rerun (or
    a resumed run) then replays every one of them without a model call. An
    answer is counted in the step's tally when it is yielded (those the consumer
    never took, when they finish), so the tally at any yield is what the
    consumer has used so far.
    """
    pending: deque[tuple[int, ChatRequest, asyncio.Task[Completion]]] = deque()
    index = 0
    finished = False
    try:
        while True:
            window = in_flight() if callable(in_flight) else in_flight
            while len(pending) < window and (request := next(requests, None)) is not None:
                call = asyncio.create_task(llm.complete(request, count=False))
                pending.append((index, request, call))
                index += 1
            if not pending:
                break
            number, request, task = pending.popleft()
            try:
                result: Completion | LLMError = await task
            except LLMError as exc:
                result = exc
            else:
                llm.count(result)
            yield number, request, result
        finished = True
    except GeneratorExit:
        answers = await asyncio.gather(*(task for _, _, task in pending), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, Completion):
                llm.count(answer)
        finished = True
        raise
    finally:
        if not finished:  # cancelled or failed: do not leave calls running
            for _, _, task in pending:
                task.cancel()
