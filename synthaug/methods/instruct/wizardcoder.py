"""WizardCoder: Code Evol-Instruct (Luo et al., 2023, arXiv 2306.08568).

WizardCoder adapts Evol-Instruct (``evol_instruct.evolve``) to code, and this step is
that loop with the paper's three changes:

1. deepening, complicating input and in-breadth evolution are removed;
2. one unified evolving prompt, "make the given programming test question a bit harder
   using, among others, this method", with ``{method}`` and ``{question}`` slots
   (``wizardcoder_evolve.j2``, paraphrased);
3. five methods, two of them new for code: add new constraints and requirements (about 10
   more words), replace a common requirement with a less common and more specific one, add
   reasoning steps to a problem solvable in a few logical steps, **code debugging**
   (provide a piece of erroneous code as a reference to increase misdirection) and
   **time/space complexity** (propose higher time or space complexity requirements, but
   not frequently).

As in WizardLM, each round picks one method uniformly, the same model answers the evolved
instruction, and Evol-Instruct's eliminator runs. The paper seeds with Code Alpaca's 20K
instructions and keeps evolving, merging every round's data with the earlier rounds',
until pass@1 on HumanEval (its dev set) drops; gpt-3.5-turbo evolves and answers.

What differs here: the number of rounds is fixed (``rounds``, Evol-Instruct's 4) instead
of stopped by a HumanEval score; the paper does not restate the eliminator, which is
kept from WizardLM (written from the WizardLM paper, not from WizardCoder's code, which
was not found); and each passing answer's Python code is run in the sandbox
(``verify``: ``record`` keeps a ``tests`` verdict with no tests, i.e. the code must
run; ``require`` also eliminates evolutions whose answer has no code or fails),
which the paper does not do.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ...engine.step import StepContext
from ...verify.code import run_tests
from ...verify.evidence import tests_verdict
from ..common.code import python_code
from ..registry import register
from ..templates import render
from .evol_instruct import Evolve, EvolveParams

PAPER = "Luo et al., 2023, WizardCoder: Empowering Code LLMs with Evol-Instruct (arXiv 2306.08568)"
TAXONOMY = "synthesis / general model distillation (code instruction evolution)"
STAGE = "instruction tuning (code)"

CODE_METHODS = {
    "add_constraints": "Add new constraints and requirements to the original problem, adding "
    "about 10 more words.",
    "specific_requirement": "Replace a commonly used requirement in the programming task with a "
    "less common and more specific one.",
    "more_reasoning": "If the original problem can be solved with only a few logical steps, add "
    "more reasoning steps.",
    "code_debugging": "Provide a piece of erroneous code as a reference to increase misdirection.",
    "complexity": "Propose higher time or space complexity requirements, but please refrain from "
    "doing so frequently.",
}


class WizardCoderParams(EvolveParams):
    known: ClassVar[tuple[str, ...]] = tuple(CODE_METHODS)
    operations: list[str] = Field(default_factory=lambda: list(CODE_METHODS))
    # none: no execution; record: keep the answer's sandbox verdict; require: also eliminate
    # an evolution whose answer has no Python code or whose code fails
    verify: Literal["none", "record", "require"] = "record"


@register("wizardcoder.evolve", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class CodeEvolve(Evolve):
    """WizardCoder: Evol-Instruct with the unified code prompt and five code methods."""

    Params = WizardCoderParams
    writes = (*Evolve.writes, "verification")

    def prompt(self, instruction: str, operation: str, seed: int) -> str:
        return code_evolution_prompt(instruction, operation)

    async def checked(self, answer: str, ctx: StepContext) -> dict[str, Any]:
        if self.params.verify == "none":
            return {}
        code = python_code(answer)
        verdict = (
            None
            if code is None
            else tests_verdict(code, "", await run_tests(ctx.sandbox, code, ""))
        )
        return {"verification": verdict}

    def eliminated(self, checks: dict[str, Any]) -> str | None:
        if self.params.verify != "require":
            return None
        verdict = checks.get("verification")
        if verdict is None:
            return "no_python_code"
        return None if verdict["verified"] else "code_failed"


def code_evolution_prompt(instruction: str, operation: str) -> str:
    """WizardCoder's unified evolving prompt with ``operation``'s method."""
    return render(
        __file__, "wizardcoder_evolve.j2", method=CODE_METHODS[operation], prompt=instruction
    )
