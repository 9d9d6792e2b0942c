"""ReST-EM (Singh et al., 2023, "Beyond Human Data: Scaling Self-Training for Problem-Solving
with Language Models", arXiv 2312.06585).

ReST-EM alternates two steps: *Generate* (E-step), sample many solutions per problem from
the current model and keep those a binary reward marks correct; *Improve* (M-step),
fine-tune the *base* model on that round's kept samples, and generate the next round with
it. The paper's MATH setting (approximate, from the paper): 32 samples per problem per
round at temperature 1.0, at most 10 kept solutions per problem (so easy problems do not
dominate), a few-shot prompt for the first round's base model, about 3 rounds.

``rest_em.iterate`` runs ``rounds`` Generate steps over all questions (it sees every row
first, since a round needs the previous round's model):

- reward: the answer check (``verification`` kind ``answer``); the first
  ``max_per_question`` correct samples of a question (in sample order) are kept;
- the next model: ``next_backend[r]`` names a recipe backend (``backends:``) that samples
  round r + 1 (missing or null: the default backend); and/or ``improve: "module:function"``,
  a hook called between rounds with the path of the round's kept records (a JSONL written
  atomically under ``rounds_dir``), for users who fine-tune between rounds (it returns
  nothing; e.g. it trains and restarts the server behind the next round's backend; a
  rerun calls it again with the same file, so it should skip work it has done);
- every record carries ``round`` (0-based), the backend that made it (``rest_em_backend``)
  and its question's counts that round (``rest_em_counts``: samples, correct, kept).

A whole-input step cannot send rows to the errors file, so per-round counts of what was
dropped (wrong answers, over the cap, questions whose model call failed) go to ``rounds_dir/round-R.stats.json`` when
``rounds_dir`` is set. ``keep_failed`` keeps wrong samples as records with
``verification.verified`` false (they never reach the improve hook).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ...engine.step import DEFAULT_BACKEND as DEFAULT
from ...engine.step import StepContext, WholeStep
from ...io import AtomicWriter
from ...io.writers import write_text_atomic
from ...llm.client import LLMClient, LLMError
from ...llm.types import ChatRequest
from ...records import META, derive
from ...verify.evidence import answer_verdict
from ..registry import register
from ..templates import render
from .rft import sample_requests

PAPER = "Singh et al., 2023, Beyond Human Data: Scaling Self-Training (ReST-EM, arXiv 2312.06585)"
TAXONOMY = "synthesis / reasoning (self-training with binary reward, iterated)"
STAGE = "reasoning (SFT data, iterative)"
HOOK = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class IterateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rounds: int = Field(3, ge=1)  # the paper: about 3 iterations on MATH
    k: int = Field(32, ge=1)  # samples per question per round (paper, MATH: 32)
    max_per_question: int = Field(10, ge=1)  # cap of kept solutions per question (paper: 10)
    temperature: float = Field(1.0, ge=0, le=2)  # the paper samples at temperature 1.0
    max_tokens: int = Field(768, ge=16)
    samples_per_call: int = Field(32, ge=1, le=128)  # n per request; 1: one request each
    few_shot: Literal["first", "all", "none"] = "first"  # the base model's prompt is few-shot
    next_backend: list[str | None] = Field(default_factory=list)  # entry r: model of round r+1
    improve: str | None = None  # "module:function", called with the round's JSONL path
    rounds_dir: str | None = None  # where round-R.jsonl and round-R.stats.json go
    keep_failed: bool = False
    questions_in_flight: int | None = Field(None, ge=1)  # None: the backend's concurrency

    @field_validator("improve")
    @classmethod
    def _hook_form(cls, value: str | None) -> str | None:
        if value is not None and not HOOK.match(value):
            raise ValueError("improve must be 'module:function', e.g. 'mytrain:finetune'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IterateParams:
        if len(self.next_backend) > self.rounds - 1:
            raise ValueError(
                f"next_backend names {len(self.next_backend)} backends but only "
                f"{self.rounds - 1} rounds follow the first"
            )
        if self.improve and not self.rounds_dir:
            raise ValueError("improve needs rounds_dir (where each round's records are written)")
        return self


def load_hook(spec: str) -> Callable[[Path], Any]:
    """The function named by ``module:function`` (the working folder is importable too)."""
    module_name, _, function = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        if os.getcwd() in sys.path:
            raise
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    hook = getattr(module, function, None)
    if not callable(hook):
        raise RuntimeError(f"improve: {spec} is not a function")
    return hook


@register("rest_em.iterate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Iterate(WholeStep):
    """ReST-EM: rounds of sampling, answer-reward filtering and a capped keep per question."""

    Params = IterateParams
    reads = ("question", "answer")
    writes = ("response", "round", "rest_em_backend", "rest_em_counts", "verification")
    uses_llm = True
    backend_params = ("next_backend",)

    def round_backend(self, number: int) -> str:
        """The backend name that samples round ``number`` (``default``: the recipe's)."""
        chosen = self.params.next_backend
        name = chosen[number - 1] if 0 < number <= len(chosen) else None
        return name or DEFAULT

    def requests(self, row: dict[str, Any], number: int, ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        few_shot = p.few_shot == "all" or (p.few_shot == "first" and number == 0)
        prompt = render(__file__, "rest_em_solve.j2", question=row["question"], few_shot=few_shot)
        seeds = [ctx.seed(row[META]["id"], number, call) for call in range(p.k)]
        return sample_requests(prompt, p, stop="\nProblem:", seeds=seeds)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        problems = [row async for row in rows]
        p = self.params
        hook = load_hook(p.improve) if p.improve else None
        for number in range(p.rounds):
            name = self.round_backend(number)
            client = ctx.require_llm(name)
            slots = asyncio.Semaphore(p.questions_in_flight or client.backend.max_concurrency)

            async def one(row, number=number, client=client, name=name, slots=slots):
                async with slots:
                    try:
                        return await self.generate(row, number, client, name, ctx)
                    except LLMError as exc:  # the question sits this round out
                        return [], {"samples": 0, "correct": 0, "kept": 0, "failed": exc.kind}

            results = await asyncio.gather(*(one(row) for row in problems))
            kept: list[dict[str, Any]] = []
            stats = {"round": number, "backend": name, "questions": len(problems)}
            totals = {"samples": 0, "correct": 0, "kept": 0, "solved": 0}
            failed: dict[str, int] = {}  # questions whose model call failed, by kind
            for records, counts in results:
                for key in ("samples", "correct", "kept"):
                    totals[key] += counts[key]
                totals["solved"] += counts["kept"] > 0
                if "failed" in counts:
                    failed[counts["failed"]] = failed.get(counts["failed"], 0) + 1
                for record in records:
                    if record["verification"]["verified"]:
                        kept.append(record)
                    yield record
            stats |= totals
            stats["dropped"] = {
                "wrong_answer": totals["samples"] - totals["correct"],
                "over_cap": totals["correct"] - totals["kept"],
                "failed_calls": failed,
            }
            if p.rounds_dir:
                path = self.write_round(Path(p.rounds_dir), number, kept, stats)
                if hook is not None and number < p.rounds - 1:
                    await asyncio.to_thread(hook, path)

    async def generate(
        self, row: dict[str, Any], number: int, client: LLMClient, name: str, ctx: StepContext
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """One question's round: its kept (and, with ``keep_failed``, wrong) samples, counts."""
        p, gold = self.params, str(row["answer"])
        requests = self.requests(row, number, ctx)
        completions = await asyncio.gather(*(client.complete(r) for r in requests))
        samples = [
            (request, choice.text.strip())
            for request, completion in zip(requests, completions, strict=True)
            for choice in completion.choices[: request.n]
        ]
        verdicts = [answer_verdict(text, gold) for _, text in samples]
        correct = [i for i, v in enumerate(verdicts) if v["verified"]]
        keep = set(correct[: p.max_per_question])
        counts = {"samples": len(samples), "correct": len(correct), "kept": len(keep)}
        records = []
        for i, ((request, text), verification) in enumerate(zip(samples, verdicts, strict=True)):
            if i not in keep and not (p.keep_failed and not verification["verified"]):
                continue
            fields = {
                "response": text,
                "round": number,
                "rest_em_backend": name,
                "rest_em_counts": counts,
                "verification": verification,
            }
            records.append(
                derive(
                    row,
                    fields,
                    step=self.name,
                    method=self.method,
                    index=f"{number}-{i}",
                    model=client.backend.describe(),
                    request=[client.key(request)],
                    seed=request.seed,
                )
            )
        return records, counts

    @staticmethod
    def write_round(
        folder: Path, number: int, kept: list[dict[str, Any]], stats: dict[str, Any]
    ) -> Path:
        """Write the round's kept records and counts atomically; returns the records' path."""
        path = folder / f"round-{number}.jsonl"
        with AtomicWriter(path) as writer:
            writer.write_many(kept)
        write_text_atomic(folder / f"round-{number}.stats.json", json.dumps(stats, indent=2))
        return path
