"""PIE: performance-improving code edits (Shypula et al., 2024, "Learning Performance-
Improving Code Edits", ICLR 2024, arXiv 2302.07867).

PIE pairs a slower program with a faster one that computes the same thing (from CodeNet
C++ submissions: the same user's successive accepted solutions), keeps a pair only when
the faster version passes all the problem's tests and is measurably faster (timed in
the gem5 simulator for deterministic numbers), and fine-tunes models to write the faster
version. Its headline measures are the share of programs optimized by at least 1.1x
while correct ("%Opt") and the mean speed-up. Here the model writes the edit and the
sandbox decides:

1. ``pie.seeds``: seed programs, each a Python function with test inputs (default: 6
   deliberately slow functions written for synthaug; PIE's CodeNet pairs ship in no
   registry package).
2. ``pie.edit``: the model is asked for a faster program with the same function
   (``pie_edit.j2``, PIE's instruction prompt paraphrased; ``attempts`` samples). An
   edit is kept only when (a) it is **equivalent on the tests**: called from outside its
   process (``Sandbox.call_function``), it returns exactly what the original returns on
   every input, and nothing raises; and (b) it is **faster**: the original and the edit
   each run ``repeats`` times in the sandbox, interleaved, every run calling the function
   on all the inputs; the speed-up is the ratio of median wall times, and it must be at
   least ``min_speedup`` (PIE's 1.1) and significant (one-sided Mann-Whitney U,
   p < ``alpha``; ``speedup.py``). The record carries ``speedup`` and a ``speedup``
   verification with the inputs, both programs' outputs and every timing as evidence.
   The fastest kept attempt is the record; a row with none is an error row saying why.

What differs: Python functions timed by wall clock in the sandbox (process start
included, the same for both programs), not C++ in gem5; the edits come from the model,
not from human submission histories; the repeated-timing significance rule is this
project's (PIE's timing is deterministic and needs none). The seed set and the prompt
wording are written for synthaug.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...hashing import stable_hash
from ...io.readers import read_records
from ...llm.types import chat
from ...records import META, source_record
from ...verify.evidence import verdict
from ...verify.sandbox import Sandbox
from ...verify.speedup import speedup_test
from ..common.code import first_python_block
from ..common.sampling import sample
from ..registry import register
from ..templates import render

PAPER = "Shypula et al., 2024, Learning Performance-Improving Code Edits (ICLR, arXiv 2302.07867)"
TAXONOMY = "synthesis / domain model distillation (code: verified performance edits)"
STAGE = "fine-tuning (code)"
SEED_FILE = "pie_seed_programs.jsonl"  # 6 slow Python functions written for synthaug


def load_programs(path: str | None = None) -> list[dict[str, Any]]:
    """Seed programs (``name``, ``func_name``, ``program``, ``inputs``)."""
    source = path or str(resources.files("synthaug") / "data" / SEED_FILE)
    return list(read_records(source, required=("func_name", "program", "inputs")))


class SeedsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # JSONL: name, func_name, program, inputs (kwargs per call)


@register("pie.seeds", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Seeds(SourceStep):
    """PIE: programs to speed up, each a function with test inputs."""

    Params = SeedsParams
    writes = ("program", "func_name", "inputs")

    def expected_rows(self) -> int | None:
        return len(load_programs(self.params.path))

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        for index, item in enumerate(load_programs(self.params.path)):
            fields = {k: item[k] for k in ("program", "func_name", "inputs")}
            yield source_record(fields, source=self.params.path or SEED_FILE, index=index)


class EditParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(4, ge=1, le=32)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)
    repeats: int = Field(7, ge=3, le=50)  # timed runs of each program
    min_speedup: float = Field(1.1, ge=1.0)  # PIE's %Opt threshold
    alpha: float = Field(0.05, gt=0, lt=1)
    call_timeout_s: float = Field(5.0, gt=0)  # per call in the equivalence check


def timing_program(
    code: str, func_name: str, inputs: list[dict[str, Any]], run: int, pair: str
) -> str:
    """``code`` followed by a driver calling ``func_name`` on every input; ``run`` numbers
    the timed run of the ``pair`` compared, so each is its own sandbox execution, cached for
    a resumed run but never shared with another pair's timings (an original is timed again,
    interleaved, beside each edit)."""
    return (
        f"{code.rstrip()}\n\n\n# synthaug timing run {run} of pair {pair}\n"
        f"import json as _json\n"
        f"for _arguments in _json.loads({json.dumps(json.dumps(inputs))}):\n"
        f"    {func_name}(**_arguments)\n"
    )


async def timings(
    sandbox: Sandbox, original: str, edited: str, func_name: str, inputs: list, repeats: int
) -> tuple[list[float], list[float]] | str:
    """Wall times of ``repeats`` runs of each, alternating (who goes first alternates too);
    the failing status otherwise."""
    slow, fast = [], []
    tag = stable_hash([original, edited], 16)
    for run in range(repeats):
        pair = ((original, slow), (edited, fast))
        for code, times in pair if run % 2 == 0 else pair[::-1]:
            result = await sandbox.run(timing_program(code, func_name, inputs, run, tag))
            if not result.ok:
                return result.status
            times.append(result.wall_s)
    return slow, fast


@register("pie.edit", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Edit(MapStep):
    """PIE: a faster version of a program, kept if equivalent and significantly faster (sandbox)."""

    Params = EditParams
    reads = ("program", "func_name", "inputs")
    writes = ("edited_program", "speedup", "messages", "verification", "pie_attempt")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        seed = ctx.seed(row[META]["id"])
        prompt = render(__file__, "pie_edit.j2", program=row["program"], func_name=row["func_name"])
        request = chat(
            ("user", prompt),
            n=p.attempts,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=seed,
        )
        choices, sent = await sample(ctx.require_llm(), request)
        run, expected = await ctx.sandbox.call_function(
            row["program"], row["func_name"], row["inputs"], p.call_timeout_s
        )
        if not run.ok or any("return" not in outcome for outcome in expected):
            raise RowError("original_fails", f"the original program fails: {run.status}")
        best, failures, tried = None, [], set()
        for index, choice in enumerate(choices):
            edited = first_python_block(choice.text)
            if edited is None or edited.strip() == row["program"].strip() or edited in tried:
                failures.append(f"attempt {index}: no new code")
                continue
            tried.add(edited)
            check = await self.check(row, edited, expected, ctx)
            if isinstance(check, str):
                failures.append(f"attempt {index}: {check}")
            elif best is None or check["speedup"] > best[1]["speedup"]:
                best = (edited, check, index)
        if best is None:
            raise RowError("no_faster_edit", "; ".join(failures))
        edited, check, index = best
        fields = {
            "edited_program": edited,
            "speedup": check["speedup"],
            "messages": [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": f"```python\n{edited}```"},
            ],
            "verification": verdict("speedup", True, **check),
            "pie_attempt": index,
        }
        return [self.derived(row, fields, ctx, sent, seed=seed)]

    async def check(
        self, row: dict[str, Any], edited: str, expected: list, ctx: StepContext
    ) -> dict[str, Any] | str:
        """The evidence of a kept edit, or why it is not kept."""
        p, func_name, inputs = self.params, row["func_name"], row["inputs"]
        run, outputs = await ctx.sandbox.call_function(edited, func_name, inputs, p.call_timeout_s)
        if not run.ok or outputs != expected:
            return f"not_equivalent ({run.status})"
        timed = await timings(ctx.sandbox, row["program"], edited, func_name, inputs, p.repeats)
        if isinstance(timed, str):
            return f"timing_run_failed ({timed})"
        stats = speedup_test(*timed, p.min_speedup, p.alpha)
        if not stats["significant"]:
            return f"not_faster (speed-up {stats['speedup']}, p {stats['p_value']})"
        return {
            "code": edited, "original": row["program"], "func_name": func_name,
            "inputs": inputs, "outputs": outputs, "original_s": timed[0], "edited_s": timed[1],
            "call_timeout_s": p.call_timeout_s, "min_speedup": p.min_speedup, "alpha": p.alpha,
            **stats,
        }  # fmt: skip
