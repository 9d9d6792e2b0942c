"""A seed pool of instructions for methods that start from seeds (Evol-Instruct, Orca, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ...engine.step import SourceStep, StepContext
from ...records import source_record
from ..registry import register
from .self_instruct import load_seed_tasks

BUILTIN = {
    "self_instruct": "self_instruct_seed_tasks.jsonl",  # the paper's 175 tasks
    "code_alpaca": "code_alpaca_seed_tasks.jsonl",  # 20 code tasks written for synthaug
}


class SeedsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # a seed-task file; default: the ``builtin`` set
    builtin: Literal["self_instruct", "code_alpaca"] = "self_instruct"

    def seed_file(self) -> str:
        """The seed-task file to read."""
        return self.path or str(resources.files("synthaug") / "data" / BUILTIN[self.builtin])


@register(
    "seed_tasks",
    taxonomy="I/O (seed pool)",
    stage="instruction tuning",
    paper="Wang et al., 2023, Self-Instruct (arXiv 2212.10560): the 175 seed tasks",
)
class Seeds(SourceStep):
    """Seed instructions (Self-Instruct's 175 or 20 code tasks): instruction + "\\n" + input, output."""

    Params = SeedsParams
    writes = ("instruction", "output")

    def expected_rows(self) -> int | None:
        return len(load_seed_tasks(self.params.seed_file()))

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or BUILTIN[self.params.builtin].removesuffix(".jsonl")
        for index, task in enumerate(load_seed_tasks(self.params.seed_file())):
            yield source_record(seed_fields(task), source=source, index=index)


def seed_fields(task: dict[str, Any]) -> dict[str, Any]:
    """Alpaca-style seed: instruction + "\\n" + input; the first instance's output if there is one."""
    instances = task.get("instances") or [{}]
    extra = str(task.get("input") or instances[0].get("input") or "").strip()
    instruction = str(task["instruction"]).strip()
    output = task.get("output") or instances[0].get("output") or ""
    return {"instruction": f"{instruction}\n{extra}" if extra else instruction, "output": output}
