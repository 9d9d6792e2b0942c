"""SPIN, Self-Play fINe-tuning, data side (Chen et al., 2024, "Self-Play Fine-Tuning Converts
Weak Language Models to Strong Language Models", arXiv 2401.01335).

SPIN turns an SFT set into preference pairs without new labels: at iteration t the model of
iteration t-1 (the SFT model at t = 0) answers every SFT prompt, and each pair puts the
ground-truth SFT response (``real``) above the model's own (``generated``); the model is then
trained with the DPO-like SPIN loss (β = 0.1) and becomes the generator of iteration t+1.
From iteration 1 on, the previous iteration's pairs are mixed in (e.g. iter0 + iter1 = 100K).
The authors' ``generate.py`` decodes greedily with ``max_new_tokens=256`` (the defaults here).

``spin.pairs``: ``real`` from ``response_column`` (default ``output``: the ``seed_tasks``
source's first-instance output), or from ``instances[0].output`` when a row carries raw
Self-Instruct instances; ``generated`` from the iteration's model (``model_backend``: a named
backend, the default being the recipe's). Records carry the SPIN format (``prompt``, ``real``
and ``generated`` as ``[{role: user}, {role: assistant}]`` message lists) and the pair shape
(``chosen`` = real, ``rejected`` = generated), with ``iteration``. Dropped, counted by kind:
``empty_prompt``, ``no_real_response`` and ``empty_generation``.

``spin.mix`` (a whole step after ``spin.pairs``) appends the pairs of the previous iteration
(``previous``: that iteration's output file; only its newest iteration's pairs are taken, so
iteration t mixes t-1 and t as SPIN does, not every earlier one). Without ``previous`` (t = 0)
it passes the rows through.

Training is out of scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext, WholeStep
from ...errors import InputError
from ...io import read_records
from ...llm.types import chat
from ...records import META, derive, source_record
from ..registry import register
from .common import PAIR_COLUMNS, prompt_text

PAPER = "Chen et al., 2024, Self-Play Fine-Tuning Converts Weak Language Models to Strong (SPIN, arXiv 2401.01335)"
TAXONOMY = "synthesis / self-improvement (self-play: real over generated)"
STAGE = "preference alignment (pairs from SFT data)"
SPIN_COLUMNS = ("real", "generated", "iteration")


def real_response(row: dict[str, Any], column: str) -> str:
    """The ground-truth response: ``row[column]``, else the first instance's output."""
    value = row.get(column)
    if value is None and isinstance(row.get("instances"), list) and row["instances"]:
        first = row["instances"][0]
        value = first.get("output") if isinstance(first, dict) else None
    return value.strip() if isinstance(value, str) else ""


def messages(prompt: str, response: str) -> list[dict[str, str]]:
    """A SPIN conversation: the prompt, then the response."""
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


class PairsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    response_column: str = "output"
    iteration: int = Field(0, ge=0)
    model_backend: str | None = None  # the iteration's model (a named backend); None: default
    max_tokens: int = Field(256, ge=8)  # SPIN's generate.py: max_new_tokens=256
    temperature: float = Field(0.0, ge=0, le=2)  # greedy, as SPIN's generate.py


@register("spin.pairs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pairs(MapStep):
    """SPIN: the ground-truth response (real) over the current model's own (generated)."""

    Params = PairsParams
    writes = (
        "instruction",
        "prompt",
        "real",
        "generated",
        "iteration",
        *PAIR_COLUMNS,
    )
    uses_llm = True
    backend_params = ("model_backend",)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        prompt = prompt_text(row, p.prompt_column)
        real = real_response(row, p.response_column)
        if not real:
            message = f"no ground-truth response in {p.response_column!r} or instances[0].output"
            raise RowError("no_real_response", message)
        llm = ctx.require_llm(p.model_backend)
        request = chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], "generate", p.iteration),
        )
        generated = (await llm.complete(request)).text.strip()
        if not generated:
            raise RowError("empty_generation", "the model's response is empty")
        model = llm.backend.describe()
        fields = {
            "instruction": prompt,
            "prompt": prompt,
            "real": messages(prompt, real),
            "generated": messages(prompt, generated),
            "iteration": p.iteration,
            "chosen": real,
            "rejected": generated,
            "chosen_score": None,
            "rejected_score": None,
            "chosen_model": None,  # the ground truth: written by people, not by a model
            "rejected_model": model,
            "pair_method": self.method,
        }
        # the id depends on the iteration, so the pairs of two iterations can be mixed
        record = derive(
            row,
            fields,
            step=self.name,
            method=self.method,
            index=p.iteration,
            model=model,
            request=[llm.key(request)],
            seed=request.seed,
        )
        return [record]


class MixParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    previous: str | None = None  # the previous iteration's output file; None: iteration 0


def load_previous(path: str) -> list[dict[str, Any]]:
    """The pairs of the newest iteration in ``path`` (a SPIN output file), each keeping its
    ``_meta`` (a file without one gets ids from its path and line)."""
    rows = [
        row if META in row else source_record(row, source=path, index=i)
        for i, row in enumerate(read_records(path, required=SPIN_COLUMNS))
    ]
    if not rows:
        raise InputError(path, "no SPIN pairs in the previous iteration's file")
    newest = max(int(row["iteration"]) for row in rows)
    return [row for row in rows if int(row["iteration"]) == newest]


@register("spin.mix", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Mix(WholeStep):
    """SPIN: mix the previous iteration's pairs into this iteration's (iter t-1 + iter t)."""

    Params = MixParams
    reads = SPIN_COLUMNS

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        if self.params.previous is not None:
            load_previous(self.params.previous)  # a bad file fails before any model call

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        iterations: set[int] = set()
        async for row in rows:
            iterations.add(row["iteration"])
            yield row
        if self.params.previous is None:
            return
        previous = load_previous(self.params.previous)
        if iterations and previous[0]["iteration"] >= min(iterations):
            problem = (
                f"holds iteration {previous[0]['iteration']}, not one before this run's "
                f"iteration {min(iterations)}"
            )
            raise InputError(self.params.previous, problem)
        for row in previous:
            yield row
