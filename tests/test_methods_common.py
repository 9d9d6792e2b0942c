"""The shared step code in ``synthaug.methods.common`` and ``records.failed`` (no model)."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace

from synthaug.llm.types import chat
from synthaug.methods.common.tasks import generate_until
from synthaug.records import META, derive, failed, record_id


def test_failed_child_is_derive_with_an_error():
    parent = {"text": "a", META: {"id": "p1"}}
    row = failed(parent, {"x": 1}, step="s", method="m", kind="k", message="msg", index=2)
    error = {"kind": "k", "message": "msg"}
    assert row == derive(parent, {"x": 1}, step="s", method="m", index=2, error=error)
    assert list(row[META]) == ["id", "parents", "step", "method", "error"]


def test_failed_source_row_takes_its_position():
    row = failed(None, {"topic": "t"}, step="s", method="m", kind="k", message="msg", index=(3, "e"))
    assert list(row) == ["topic", META]
    assert row[META] == {
        "id": record_id("s", 3, "e"),
        "parents": [],
        "step": "s",
        "method": "m",
        "error": {"kind": "k", "message": "msg"},
    }


class _Echo:
    backend = SimpleNamespace(max_concurrency=3)

    def __init__(self):
        self.sent: list[int] = []

    async def complete(self, request, count=True):
        self.sent.append(request.seed)
        await asyncio.sleep(0)
        return SimpleNamespace(text=str(request.seed))

    def count(self, completion):  # a step's tally: none here
        pass


def test_generate_until_stops_at_the_target_in_order():
    llm, accepted = _Echo(), []

    async def run():
        results = generate_until(
            llm, lambda n: chat(("user", "q"), seed=n), lambda: len(accepted) >= 3, 100
        )
        async with contextlib.aclosing(results):
            async for number, _, result in results:
                if number % 2 == 0:  # every other result is accepted
                    accepted.append(result.text)

    asyncio.run(run())
    assert accepted == ["0", "2", "4"]
    assert llm.sent == list(range(7))  # 3 in flight: requests 5 and 6 were already sent
