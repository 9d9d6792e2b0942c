"""Sources of records made by scripted generators (``synthaug.mathgen``), no model involved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ...engine.step import SourceStep, StepContext
from ...mathgen import GeneratorError, regenerate
from ...records import META, record_id
from ...verify.evidence import verdict

CORE = ("question", "answer", "solution", "params")
RETRIES = 50  # fresh seeds tried per slot before a duplicate question gives the slot up


def check_generators(names: list[str], params: dict[str, dict[str, Any]]) -> None:
    """Make one item per generator now, so that unknown names, bad parameters and broken
    plugins fail when the recipe is built (a ``ValueError``, shown under ``params``)."""
    stray = sorted(set(params) - set(names))
    if stray:
        raise ValueError(f"params given for generators not in the list: {', '.join(stray)}")
    for name in dict.fromkeys(names):
        try:
            regenerate(name, 0, params.get(name))
        except (ValueError, GeneratorError) as exc:
            raise ValueError(str(exc)) from None


class GeneratorSource(SourceStep):
    """Records from scripted generators, taken in turn, one seed per record."""

    writes = ("question", "answer", "solution", "generator", "messages", "verification")

    def generator_names(self) -> list[str]:
        return self.params.generators

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        names, seen = self.generator_names(), set()
        for slot in range(self.params.count):
            name = names[slot % len(names)]
            for attempt in range(RETRIES if self.params.unique else 1):
                seed = ctx.seed(name, slot, attempt)
                made = regenerate(name, seed, self.params.params.get(name))
                if made["question"] not in seen:
                    break
            else:
                continue  # this generator keeps repeating itself: leave the slot empty
            seen.add(made["question"])
            yield self.record(name, seed, made, slot)

    def record(self, name: str, seed: int, made: dict[str, Any], slot: int) -> dict[str, Any]:
        extra = {k: v for k, v in made.items() if k not in CORE}
        return {
            "question": made["question"],
            "answer": made["answer"],
            "solution": made["solution"],
            "generator": name,
            **extra,
            "messages": [
                {"role": "user", "content": made["question"]},
                {"role": "assistant", "content": made["solution"]},
            ],
            "verification": verdict(
                "generator",
                True,
                generator=name,
                seed=seed,
                params=made["params"],
                answer=made["answer"],
            ),
            META: {
                "id": record_id(self.name, slot),
                "parents": [],
                "step": self.name,
                "method": self.method,
                "seed": seed,
            },
        }
