"""Verified preference pairs, UltraInteract style (Yuan et al., 2024, "Advancing LLM Reasoning
Generalists with Preference Trees", arXiv 2404.02078).

UltraInteract builds a preference tree per instruction of a checkable task (math with gold
answers, code with unit tests, logic): at each node an actor model samples actions, the
environment checks them (answer match, test execution), and a correct action is paired with
an incorrect one as (chosen, rejected); the paired correct and incorrect actions train the
Eurus models with DPO, KTO and NCA, and their reward model.

``preference.verified`` is the single-turn form: per task it samples ``samples`` solutions
(temperature 1.0), verifies each, and pairs the distinct correct ones (chosen) with the
distinct incorrect ones (rejected), up to ``max_pairs`` per task (UltraInteract keeps one
pair per node: the default 1). Pairs go diagonally through the correct x incorrect grid, so
every correct solution is used once before any is reused. Checks, by ``task``:

- ``math``: ``answer_verdict(text, gold)`` against the row's ``answer`` (``math_problems``);
- ``code``: the reply's first Python block run with the row's ``tests`` in the sandbox
  (definitions in the tests of names the solution defines removed first, as in
  ``test_driven.solve``); a reply without code is an incorrect solution;
- ``auto`` (default): code when the row has ``tests``, else math.

Each pair carries both verdicts (``chosen_verification``, ``rejected_verification``, which
``reverify`` re-checks from their evidence), ``chosen_score`` 1 and ``rejected_score`` 0, and
``verified_counts``. Dropped, counted by kind: ``empty_prompt``, ``no_correct_solution`` and
``no_incorrect_solution`` (a task the model always or never solves gives no pair).

The paper's actors are strong models (GPT-3.5/4, Mixtral) with multi-turn critique.
"""

from __future__ import annotations

import asyncio
from itertools import product
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.code import run_tests
from ...verify.evidence import answer_verdict, tests_verdict
from ...verify.sandbox import Sandbox
from ..common.code import first_python_block, without_shadowing
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import PAIR_COLUMNS, prompt_text

PAPER = "Yuan et al., 2024, Advancing LLM Reasoning Generalists with Preference Trees (UltraInteract, arXiv 2404.02078)"
TAXONOMY = "synthesis / self-improvement (verified correct-over-incorrect pairs)"
STAGE = "preference alignment (reasoning and code pairs)"


class VerifiedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "question"  # math_problems and the code question sources write it
    task: Literal["auto", "math", "code"] = "auto"
    samples: int = Field(8, ge=2, le=128)  # solutions per task
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)
    max_pairs: int = Field(1, ge=1)  # pairs per task (UltraInteract: one per node)
    show_tests: bool = True  # code: show the tests, so names and signatures agree with them


def pair_indices(correct: int, incorrect: int, limit: int) -> list[tuple[int, int]]:
    """Up to ``limit`` (correct, incorrect) index pairs, diagonal by diagonal: each diagonal
    pairs every correct solution with a different incorrect one."""
    grid = product(range(correct), range(incorrect))
    return sorted(grid, key=lambda ij: ((ij[1] - ij[0]) % incorrect, ij[0]))[:limit]


def task_kind(row: dict[str, Any], task: str) -> str:
    """``math`` or ``code`` for this row."""
    if task != "auto":
        return task
    return "code" if row.get("tests") else "math"


async def verify(kind: str, text: str, row: dict[str, Any], sandbox: Sandbox) -> dict[str, Any]:
    """The verdict of one solution: its answer against the gold, or its code with the tests."""
    if kind == "math":
        return answer_verdict(text, str(row["answer"]))
    code = first_python_block(text) or ""
    tests = without_shadowing(str(row["tests"]), code) if code else str(row["tests"])
    return tests_verdict(code, tests, await run_tests(sandbox, code, tests))


@register("preference.verified", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Verified(MapStep):
    """UltraInteract-style pairs: a verified-correct solution over a verified-incorrect one."""

    Params = VerifiedParams
    writes = (
        "instruction",
        *PAIR_COLUMNS,
        "chosen_verification",
        "rejected_verification",
        "verified_counts",
    )
    uses_llm = True

    def input_columns(self) -> set[str]:
        p = self.params
        needs = {"math": {"answer"}, "code": {"tests"}, "auto": set()}[p.task]
        return {p.prompt_column, *needs}

    def request(self, row: dict[str, Any], kind: str, seed: int) -> ChatRequest:
        p = self.params
        question = row[p.prompt_column]
        if kind == "math":
            prompt = render(__file__, "verified_math.j2", question=question)
        else:
            tests = str(row["tests"]).rstrip() if p.show_tests else ""
            prompt = render(__file__, "verified_code.j2", question=question, tests=tests)
        return chat(
            ("user", prompt),
            n=p.samples,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=seed,
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        question = prompt_text(row, p.prompt_column)
        kind = task_kind(row, p.task)
        llm = ctx.require_llm()
        request = self.request(row, kind, ctx.seed(row[META]["id"], "solve"))
        texts: list[str] = []
        for choice in (await llm.complete(request)).choices[: p.samples]:
            if choice.text.strip() and choice.text.strip() not in texts:
                texts.append(choice.text.strip())
        verdicts = await asyncio.gather(*(verify(kind, t, row, ctx.sandbox) for t in texts))
        correct = [i for i, v in enumerate(verdicts) if v["verified"]]
        incorrect = [i for i, v in enumerate(verdicts) if not v["verified"]]
        counts = {
            "samples": p.samples,
            "distinct": len(texts),
            "correct": len(correct),
            "incorrect": len(incorrect),
        }
        if not correct or not incorrect:
            which = "correct" if not correct else "incorrect"
            message = f"no {which} solution among {len(texts)} distinct samples"
            fields = {"verified_counts": counts}
            return [dropped(self, row, f"no_{which}_solution", message, "none", fields)]
        model = llm.backend.describe()
        records = []
        for k, (i, j) in enumerate(pair_indices(len(correct), len(incorrect), p.max_pairs)):
            good, bad = correct[i], incorrect[j]
            fields = {
                "instruction": question,
                "chosen": texts[good],
                "rejected": texts[bad],
                "chosen_score": 1.0,
                "rejected_score": 0.0,
                "chosen_model": model,
                "rejected_model": model,
                "pair_method": self.method,
                "chosen_verification": verdicts[good],
                "rejected_verification": verdicts[bad],
                "verified_counts": counts,
            }
            records.append(self.derived(row, fields, ctx, [request], index=k, seed=request.seed))
        return records
