"""Auto Evol-Instruct (Zeng et al., 2024, "Automatic Instruction Evolving for Large Language
Models", arXiv 2406.00770).

Evol-Instruct's evolving methods are written by experts for each domain; Auto Evol-Instruct
lets an optimizer LLM write them. It starts from a universal evolving method e0 (the evol LLM
lists methods that would make the instruction more complex, plans, rewrites, reviews, and
gives the "#Finally Rewritten Instruction#") and improves it step by step:

1. evol trajectory analysis: a mini-batch of the training instructions (paper: 10) is evolved
   ``l`` times with e_{t-1}; the optimizer LLM reads the trajectories (stage 0, stage 1, ...)
   and names the cases that failed to evolve and why (the feedback f_t);
2. evolving method optimization: from f_t the optimizer rewrites e_{t-1} into a method that
   avoids those failures without lowering the complexity increase; this analysis and
   optimization runs ``m`` times with sampling (paper: 5; temperature 0.6, top_p 0.95), giving
   m candidate methods;
3. each candidate evolves the development set D (paper: 50 instructions held out of the
   data), the evol LLM answers each evolved instruction, and the candidate's evolution
   failure rate is the share of answers that show a failed evolution (Appendix A: an answer
   opening with "Understood", "Thank you", "What", "That is correct" or "Great" and ending in
   "?" (stagnant complexity), one opening with "Sure" and ending in "?" (insufficient
   qualification), one asking "please provide" (loss of key information)); the candidate
   with the lowest failure rate becomes e_t.

The loop stops when the failure rate no longer decreases or after ``steps`` steps (paper:
10); the final method then evolves the whole dataset (one round by default), the evol LLM
at temperature 0.

Here ``auto_evol.optimize`` (a whole-input step) runs steps 1-3 and passes every row on with
the final method (``auto_evol_method``) and a compact history (``auto_evol_history``: per
step the dev failure rate of the method it started from, each candidate's rate, the index
chosen and whether it was adopted); the full history (feedback, candidate methods, every dev
evolution with its answer and failure) goes to ``history_path`` (default:
``auto_evol_history.json`` beside the run's output). ``auto_evol.evolve`` then evolves each
row with its method and answers it; an evolution the rules call failed is an error row. An
instruction's evolutions use one seed in both steps, so a dev instruction evolved with the
final method is answered from the request cache.

What differs: the prompts are paraphrased; analysis and optimization are one conversation
(the optimizer's feedback, then the method to optimize), as in the public reimplementation
this module was checked against, and a reply without an "Optimized Method" block leaves the
method as it was (so does that reimplementation); when no candidate lowers the dev failure
rate, the method the step started from is kept (the paper's stop rule), so the final method
is the one with the lowest rate seen. A reply without a "#Finally Rewritten Instruction#"
is read whole as the evolved instruction (as the reimplementation does). Two failure kinds
are added to the paper's rules: an empty evolved instruction (``empty_instruction``) and an
empty answer (``empty_response``). Dev set and mini-batches are drawn with the run's seed.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext, WholeStep
from ...hashing import derive_seed
from ...io.writers import write_text_atomic
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, chat
from ...records import derive
from ..registry import register
from ..templates import render

PAPER = "Zeng et al., 2024, Automatic Instruction Evolving for LLMs (Auto Evol-Instruct, arXiv 2406.00770)"
TAXONOMY = "synthesis / general model distillation (instruction evolution, optimized method)"
STAGE = "instruction tuning"
HISTORY = "auto_evol_history.json"
_FINAL = re.compile(
    r"#?\s*final(?:ly)?\s+(?:rewritten|evolved|refined)\s+instruction\s*#?\s*:", re.IGNORECASE
)
_OPTIMIZED = re.compile(r"```\s*Optimized Method[^\n]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
STAGNANT = ("Understood", "Thank you", "What", "That is correct", "Great")


def initial_method() -> str:
    """e0, the universal evolving method (the instruction is appended after it)."""
    return render(__file__, "auto_evol_initial.j2")


def evolving_prompt(method: str, instruction: str) -> str:
    """The evol LLM's prompt: the method, then the instruction to evolve."""
    return f"{method.rstrip()}\n{instruction.strip()}"


def final_instruction(reply: str) -> str:
    """The instruction after the last "#Finally Rewritten Instruction#:" (or a close
    variant) of an evolving reply; the whole reply when it has none (as the public
    reimplementation reads it)."""
    matches = list(_FINAL.finditer(reply))
    return reply[matches[-1].end() :].strip() if matches else reply.strip()


def optimized_method(reply: str) -> str | None:
    """The method inside the optimizer's "```Optimized Method" block, or None."""
    match = _OPTIMIZED.search(reply)
    return match.group(1).strip() or None if match else None


def evolution_failure(response: str) -> str | None:
    """Why the answer to an evolved instruction shows a failed evolution (the paper's
    Appendix A rules), or None."""
    text = response.strip()
    if not text:
        return "empty_response"
    if text.endswith("?") and text.startswith(STAGNANT):
        return "stagnant_complexity"
    if text.endswith("?") and text.startswith("Sure"):
        return "insufficient_qualification"
    if "please provide" in text.lower():
        return "loss_of_key_information"
    return None


def evolution_seed(ctx: StepContext, instruction: str) -> int:
    """The seed of evolving ``instruction``, the same in both steps: a dev instruction evolved
    with the final method is the same request again, answered from the cache."""
    return derive_seed(ctx.run_seed, "auto_evol", instruction)


def failure_rate(evolutions: list[dict[str, Any]]) -> float:
    """The share of ``evolutions`` (each with ``failure``) that failed: λ = Σ F(r) / |D|."""
    return sum(e["failure"] is not None for e in evolutions) / len(evolutions)


class EvolLLM(BaseModel):
    """How the evol LLM evolves and answers (paper: temperature 0)."""

    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(1500, ge=16)  # the reimplementation's limit
    answer_max_tokens: int = Field(1500, ge=16)


async def evolved_instruction(
    llm: LLMClient, method: str, instruction: str, p: EvolLLM, seed: int
) -> tuple[str, ChatRequest]:
    """``instruction`` evolved once with ``method``, and the request made."""
    evolve = chat(
        ("user", evolving_prompt(method, instruction)),
        temperature=p.temperature, max_tokens=p.max_tokens, seed=seed,
    )  # fmt: skip
    return final_instruction((await llm.complete(evolve)).text), evolve


async def evolve_once(
    llm: LLMClient, method: str, instruction: str, p: EvolLLM, seed: int
) -> tuple[dict[str, Any], list[ChatRequest]]:
    """One evolution of ``instruction`` with ``method`` and its answer: ``evolved``,
    ``response`` and ``failure`` (None when it passed), and the requests made."""
    evolved, evolve = await evolved_instruction(llm, method, instruction, p, seed)
    if not evolved:
        return {"evolved": evolved, "response": None, "failure": "empty_instruction"}, [evolve]
    answer = chat(
        ("user", evolved), temperature=p.temperature, max_tokens=p.answer_max_tokens, seed=seed
    )
    response = (await llm.complete(answer)).text.strip()
    result = {"evolved": evolved, "response": response, "failure": evolution_failure(response)}
    return result, [evolve, answer]


class OptimizeParams(EvolLLM):
    steps: int = Field(10, ge=1)  # total optimization steps
    candidates: int = Field(5, ge=1)  # m, optimizations per step
    batch_size: int = Field(10, ge=1)  # the mini-batch of the trajectory analysis
    dev_size: int = Field(50, ge=1)  # |D|
    trajectory_rounds: int = Field(1, ge=1)  # l, evolutions per trajectory
    optimizer: str | None = None  # a recipe backend (paper: GPT-4); None: the recipe's
    optimizer_temperature: float = Field(0.6, ge=0, le=2)
    optimizer_top_p: float = Field(0.95, gt=0, le=1)
    optimizer_max_tokens: int = Field(1500, ge=16)
    history_path: str | None = None  # default: auto_evol_history.json beside the output


@register("auto_evol.optimize", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Optimize(WholeStep):
    """Auto Evol-Instruct: optimize the evolving method on a dev set, pass rows on with it."""

    Params = OptimizeParams
    reads = ("instruction",)
    writes = ("auto_evol_method", "auto_evol_history")
    uses_llm = True
    backend_params = ("optimizer",)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        data = [row async for row in rows]
        method, history = await self.optimize(data, ctx)
        self.write_history(history, ctx)
        compact = [
            {k: s[k] for k in ("step", "start_rate", "rates", "chosen", "adopted")}
            for s in history["steps"]
        ]
        for row in data:
            fields = {"auto_evol_method": method, "auto_evol_history": compact}
            yield derive(row, fields, step=self.name, method=self.method)

    async def optimize(
        self, data: list[dict[str, Any]], ctx: StepContext
    ) -> tuple[str, dict[str, Any]]:
        """The final evolving method and the full history of the optimization."""
        p, llm = self.params, ctx.require_llm()
        order = list(range(len(data)))
        random.Random(ctx.seed("split")).shuffle(order)
        dev_count = min(p.dev_size, len(data) // 2)
        dev = [str(data[i]["instruction"]) for i in order[:dev_count]]
        train = [str(data[i]["instruction"]) for i in order[dev_count:]]
        method = initial_method()
        history: dict[str, Any] = {"initial_method": method, "dev": dev, "steps": []}
        if not dev:  # too few rows to hold a dev set out: e0 evolves them
            history["final_method"] = method
            return method, history

        def batch_of(step: int) -> list[str]:
            return random.Random(ctx.seed("batch", step)).sample(
                train, min(p.batch_size, len(train))
            )

        evaluations, trajectories = await asyncio.gather(  # e0's dev rate and first trajectories
            self.evaluate(llm, method, dev, ctx), self.trajectories(llm, method, batch_of(1), ctx)
        )
        rate = failure_rate(evaluations)
        history["initial_rate"], history["initial_evaluation"] = rate, evaluations
        for step in range(1, p.steps + 1):
            batch = batch_of(step)
            if step > 1:
                trajectories = await self.trajectories(llm, method, batch, ctx)
            optimizer = ctx.require_llm(p.optimizer)
            proposals = await asyncio.gather(
                *(self.propose(optimizer, method, trajectories, ctx.seed("optimize", step, i))
                  for i in range(p.candidates))
            )  # fmt: skip
            evaluations = await asyncio.gather(
                *(self.evaluate(llm, candidate, dev, ctx) for _, candidate in proposals)
            )
            scored = [
                (failure_rate(evaluation), feedback, candidate, evaluation)
                for (feedback, candidate), evaluation in zip(proposals, evaluations, strict=True)
            ]
            rates = [s[0] for s in scored]
            chosen = rates.index(min(rates))
            adopted = rates[chosen] < rate
            history["steps"].append({
                "step": step, "batch": batch, "trajectories": trajectories,
                "start_method": method, "start_rate": rate, "rates": rates, "chosen": chosen,
                "adopted": adopted,
                "candidates": [
                    {"feedback": f, "method": c, "rate": r, "evaluation": e}
                    for r, f, c, e in scored
                ],
            })  # fmt: skip
            if not adopted:  # the failure rate no longer decreases
                break
            rate, method = rates[chosen], scored[chosen][2]
        history["final_method"], history["final_rate"] = method, rate
        return method, history

    async def evaluate(
        self, llm: LLMClient, method: str, dev: list[str], ctx: StepContext
    ) -> list[dict[str, Any]]:
        """Each dev instruction evolved once with ``method`` and answered, with its failure."""
        runs = await asyncio.gather(
            *(evolve_once(llm, method, x, self.params, evolution_seed(ctx, x)) for x in dev)
        )
        return [{"instruction": x, **result} for x, (result, _) in zip(dev, runs, strict=True)]

    async def trajectories(
        self, llm: LLMClient, method: str, batch: list[str], ctx: StepContext
    ) -> list[list[str]]:
        """Each batch instruction and its ``l`` successive evolutions (stage 0, 1, ...); the
        analysis reads instructions only, so they are not answered."""

        async def one(instruction: str) -> list[str]:
            stages = [instruction]
            for _ in range(self.params.trajectory_rounds):
                seed = evolution_seed(ctx, stages[-1])
                evolved, _ = await evolved_instruction(llm, method, stages[-1], self.params, seed)
                stages.append(evolved or "(empty)")
            return stages

        return list(await asyncio.gather(*(one(x) for x in batch)))

    async def propose(
        self, optimizer: LLMClient, method: str, trajectories: list[list[str]], seed: int
    ) -> tuple[str, str]:
        """One analysis and optimization: the feedback and the candidate method (``method``
        itself when the reply holds no optimized method)."""
        p = self.params
        options = {
            "temperature": p.optimizer_temperature,
            "top_p": p.optimizer_top_p,
            "max_tokens": p.optimizer_max_tokens,
            "seed": seed,
        }
        analysis = ("user", render(__file__, "auto_evol_analysis.j2", cases=trajectories))
        feedback = (await optimizer.complete(chat(analysis, **options))).text.strip()
        ask = ("user", render(__file__, "auto_evol_optimize.j2", method=method))
        reply = await optimizer.complete(chat(analysis, ("assistant", feedback), ask, **options))
        return feedback, optimized_method(reply.text) or method

    def write_history(self, history: dict[str, Any], ctx: StepContext) -> None:
        path = self.params.history_path
        if path is None and ctx.output is not None:
            path = str(Path(ctx.output).parent / HISTORY)
        if path is not None:
            write_text_atomic(path, json.dumps(history, ensure_ascii=False, indent=1) + "\n")


class EvolveParams(EvolLLM):
    pass


@register("auto_evol.evolve", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Evolve(MapStep):
    """Auto Evol-Instruct: evolve each instruction once with its optimized method, answer it."""

    Params = EvolveParams
    reads = ("instruction", "auto_evol_method")
    writes = ("instruction", "output", "evol_parent")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, instruction = ctx.require_llm(), str(row["instruction"])
        seed = evolution_seed(ctx, instruction)
        result, requests = await evolve_once(
            llm, row["auto_evol_method"], instruction, self.params, seed
        )
        if result["failure"] is not None:
            raise RowError(result["failure"], f"failed evolution: {result['failure']}")
        fields = {
            "instruction": result["evolved"],
            "output": result["response"],
            "evol_parent": instruction,
        }
        return [self.derived(row, fields, ctx, requests, seed=seed)]
