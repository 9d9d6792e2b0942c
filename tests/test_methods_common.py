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
    row = failed(
        None, {"topic": "t"}, step="s", method="m", kind="k", message="msg", index=(3, "e")
    )
    assert list(row) == ["topic", META]
    assert row[META] == {
        "id": record_id("s", 3, "e"),
        "parents": [],
        "step": "s",
        "method": "m",
        "error": {"kind": "k", "message": "msg"},
    }


class _Echo:
    def __init__(self, max_concurrency: int = 3):
        self.backend = SimpleNamespace(max_concurrency=max_concurrency)
        self.sent: list[int] = []

    async def complete(self, request, count=True):
        self.sent.append(request.seed)
        await asyncio.sleep(0)
        return SimpleNamespace(text=str(request.seed))

    def count(self, completion):  # a step's tally: none here
        pass


def accepted_by(llm, target: int, accept) -> list[str]:
    """Run ``generate_until`` for ``target`` items, ``accept(number)`` items per result."""
    accepted: list[str] = []

    async def run():
        results = generate_until(
            llm, lambda n: chat(("user", "q"), seed=n), lambda: target - len(accepted), 100
        )
        async with contextlib.aclosing(results):
            async for number, _, result in results:
                accepted.extend([result.text] * accept(number))

    asyncio.run(run())
    return accepted


def test_generate_until_stops_at_the_target_in_order():
    llm = _Echo()
    assert accepted_by(llm, 3, lambda n: 1 - n % 2) == ["0", "2", "4"]  # every other accepted
    # 3 in flight at most, and never more than the missing items need at the yield seen so far
    assert llm.sent == list(range(6))


def test_a_wide_backend_sends_only_what_the_missing_items_need():
    llm = _Echo(max_concurrency=64)
    assert accepted_by(llm, 4, lambda n: 2) == ["0", "0", "1", "1"]
    # one item per request assumed before any answer (4 sent), then two seen: no new request;
    # without the bound all 64 would have gone out at once
    assert llm.sent == [0, 1, 2, 3]
