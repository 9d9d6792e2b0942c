"""Evol-Instruct (Xu et al., 2023, WizardLM, arXiv 2304.12244).

Each seed instruction evolves for M rounds (paper: 4). Every round picks one of
six operations uniformly — five in-depth rewrites (add constraints, deepen,
concretize, increase reasoning steps, complicate input) or the in-breadth
mutation — asks the model for the evolved instruction, answers it with the
same model (temperature 1, top_p 0.95, max_tokens 2048 as in the paper), and
runs the paper's eliminator. An evolution fails when (1) the model judges the
new instruction equal to the old one (no information gain), (2) the answer
contains "sorry" and has fewer than 80 words, (3) the answer is only
punctuation and stop words, or (4) the new instruction copies the prompt's
meta-words ("given prompt", "#Rewritten Prompt#", ...). A failed instruction
stays in the pool and is evolved again next round; a passing one replaces it.

Every passing evolution is a record with ``instruction``, ``output``,
``evol_operation``, ``evol_round``, ``evol_parent`` (the instruction it came
from), ``evol_eliminated`` (why attempts since the previous pass failed; the last
record of a chain also lists later failures in ``evol_eliminated_after``) and
``_meta.parents`` pointing at the previous version. Rows evolve concurrently,
so rounds never wait for each other; a resumed run replays each chain from
the request cache. WizardCoder (``wizardcoder.evolve``) is this loop with its
code-specific prompt and operations.

The four in-depth operations of the released code (``Evol_Instruct/depth.py``)
share one rewriting prompt with a method sentence. "Complicate input" exists
only in the paper, where its prompt is few-shot: demonstrations of a short
prompt rewritten into a realistic question that carries concrete input data,
one per data format (XML data, an SQL database, Python code, an HTML page, a
shell command, JSON data), before the prompt to rewrite. Here
(``evol_complicate_input.j2``) it is few-shot in the same way, over the same six
formats; the format asked for is drawn per evolution (seeded by row and round).
Different: the demonstrations are this project's own, not the paper's, the
shared instructions are stated once before them instead of repeated in each,
and the paper's prompts are paraphrased throughout.
"""

from __future__ import annotations

import json
import random
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...curate.text import words
from ...engine.step import MapStep, StepContext
from ...llm.types import chat
from ...quality import stopwords
from ...records import META
from ..registry import register
from ..templates import render

PAPER = "Xu et al., 2023, WizardLM / Evol-Instruct (arXiv 2304.12244)"
TAXONOMY = "synthesis / general model distillation (instruction evolution)"
STAGE = "instruction tuning"

DEPTH_METHODS = {
    "add_constraints": "Please add one more constraint or requirement to #The Given Prompt#.",
    "deepen": "If #The Given Prompt# asks about certain issues, increase the depth and breadth "
    "of the inquiry.",
    "concretize": "Please replace general concepts with more specific concepts.",
    "increase_reasoning": "If #The Given Prompt# can be solved with just a few simple thinking "
    "steps, rewrite it to explicitly request multi-step reasoning.",
}
# complicate_input has its own few-shot prompt (evol_complicate_input.j2): one demonstration
# per data format, then the format asked for, drawn per evolution from these
DATA_FORMATS = (
    "XML data",
    "an SQL database (its tables or rows)",
    "Python code",
    "an HTML page",
    "a shell command",
    "JSON data",
)
OPERATIONS = (
    "add_constraints",
    "deepen",
    "concretize",
    "increase_reasoning",
    "complicate_input",
    "breadth",
)
META_WORDS = ("given prompt", "rewritten prompt", "created prompt", "#rewritten prompt#")
EQUALITY_SCHEMA = {
    "type": "object",
    "properties": {"judgement": {"type": "string", "enum": ["Equal", "Not Equal"]}},
    "required": ["judgement"],
    "additionalProperties": False,
}


class EvolveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    known: ClassVar[tuple[str, ...]] = OPERATIONS
    rounds: int = Field(4, ge=1, le=20)  # M
    operations: list[str] = Field(default_factory=lambda: list(OPERATIONS))
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(2048, ge=16)
    answer_max_tokens: int = Field(2048, ge=16)
    sorry_words: int = Field(80, ge=0)
    include_seeds: bool = True

    @field_validator("operations")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(cls.known))
        if unknown or not value:
            raise ValueError(
                f"unknown operation(s) {', '.join(unknown) or '(none)'}; known: {', '.join(cls.known)}"
            )
        return value


@register("evol_instruct.evolve", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Evolve(MapStep):
    """Evol-Instruct: M rounds of in-depth/in-breadth evolution, answers, and the eliminator."""

    Params = EvolveParams
    reads = ("instruction",)
    writes = (
        "instruction", "output", "evol_operation", "evol_round", "evol_parent", "evol_eliminated",
        "evol_eliminated_after",
    )  # fmt: skip
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        llm = ctx.require_llm()
        row_id = row[META]["id"]
        records = [row] if p.include_seeds and row.get("output") else []
        current, eliminated = row, []
        for round_ in range(1, p.rounds + 1):
            seed = ctx.seed(row_id, round_)
            operation = random.Random(seed).choice(p.operations)
            evolve = chat(
                (
                    "user",
                    self.prompt(
                        current["instruction"], operation, ctx.seed(row_id, round_, "format")
                    ),
                ),
                **self._sampling(seed, p.max_tokens),
            )
            evolved = (await llm.complete(evolve)).text.strip()
            answer_request = chat(
                ("user", evolved), **self._sampling(seed + 1, p.answer_max_tokens)
            )
            answer = (await llm.complete(answer_request)).text.strip() if evolved else ""
            requests = [evolve, answer_request]
            reason = cheap_elimination(evolved, answer, p.sorry_words)
            if reason is None:
                judge = chat(
                    (
                        "user",
                        render(
                            __file__, "evol_equal.j2", first=current["instruction"], second=evolved
                        ),
                    ),
                    temperature=0,
                    max_tokens=24,
                    json_schema=EQUALITY_SCHEMA,
                )
                requests.append(judge)
                if judged_equal((await llm.complete(judge)).text):
                    reason = "no_information_gain"
            checks: dict[str, Any] = {}
            if reason is None:
                checks = await self.checked(answer, ctx)
                reason = self.eliminated(checks)
            if reason is not None:
                eliminated.append(f"round {round_} {operation}: {reason}")
                continue
            fields = {
                "instruction": evolved,
                "output": answer,
                "evol_operation": operation,
                "evol_round": round_,
                "evol_parent": current["instruction"],
                "evol_eliminated": eliminated,
                **checks,
            }
            current = self.derived(current, fields, ctx, requests, seed=seed)
            records.append(current)
            eliminated = []
        if eliminated and records:
            records[-1] = {**records[-1], "evol_eliminated_after": eliminated}
        return records

    def prompt(self, instruction: str, operation: str, seed: int) -> str:
        """The evolving prompt (a subclass with other operations overrides it)."""
        return evolution_prompt(instruction, operation, seed)

    async def checked(self, answer: str, ctx: StepContext) -> dict[str, Any]:
        """Fields checking a passing evolution's answer (none here; WizardCoder runs its code)."""
        return {}

    def eliminated(self, checks: dict[str, Any]) -> str | None:
        """Why ``checks`` eliminate the evolution, or None."""
        return None

    def _sampling(self, seed: int, max_tokens: int) -> dict[str, Any]:
        return {
            "temperature": self.params.temperature,
            "top_p": self.params.top_p,
            "max_tokens": max_tokens,
            "seed": seed,
        }


def evolution_prompt(instruction: str, operation: str, seed: int = 0) -> str:
    """The evolving prompt of ``operation`` for ``instruction``; ``seed`` draws the data
    format that ``complicate_input`` asks for."""
    if operation == "breadth":
        return render(__file__, "evol_breadth.j2", prompt=instruction)
    if operation == "complicate_input":
        data_format = random.Random(seed).choice(DATA_FORMATS)
        return render(
            __file__, "evol_complicate_input.j2", prompt=instruction, data_format=data_format
        )
    return render(__file__, "evol_depth.j2", method=DEPTH_METHODS[operation], prompt=instruction)


def cheap_elimination(evolved: str, answer: str, sorry_words: int = 80) -> str | None:
    """The eliminator's rules that need no model call (2, 3, 4); the reason, or None."""
    if not evolved:
        return "empty_instruction"
    lowered = evolved.lower()
    if any(word in lowered for word in META_WORDS):
        return "copied_meta_words"
    tokens = words(answer)
    if "sorry" in answer.lower() and len(answer.split()) < sorry_words:
        return "sorry_short_answer"
    if all(token in stopwords.EVOL_INSTRUCT for token in tokens):
        return "stop_words_only_answer"
    return None


def judged_equal(text: str) -> bool:
    """The equality judge's verdict (unparseable counts as not equal: the evolution stands)."""
    try:
        return json.loads(text).get("judgement") == "Equal"
    except (ValueError, AttributeError):
        return False
