"""Instruction backtranslation, Humpback (Li et al., 2023, ICLR 2024, arXiv 2308.06259).

Humpback labels human-written text with instructions the model writes itself:

- *Self-augmentation* (``humpback.augment``): for each unlabelled text the
  backward model predicts the instruction the text would answer, giving a
  candidate pair (instruction = the prediction, output = the text). The paper's
  backward model is fine-tuned on (output → instruction) seed pairs; here the
  configured model is prompted for it, with seed pairs (``demonstrations``) as
  earlier turns, and its reply up to the first newline is the instruction. Each pair carries the paper's system
  prompt tag for augmented data ("knowledge from web search"; seed data gets the
  "AI Assistant style" tag, which ``humpback.tag_seed`` adds) and a training
  conversation (``messages``) with the tag as its system prompt.
  Where the text's real instruction is known (``reference_column``), it is kept
  as ``reference_instruction`` with the ROUGE-L F1 of the prediction against it.
- *Self-curation* (``humpback.curate``): the model rates each pair on the
  paper's 5-point scale (the prompt says what each point means) and answers a
  short reason, then an integer score, under a JSON schema; pairs scoring below
  ``threshold`` (paper: k = 5) are dropped (the summary's rows in/out count
  them) or, with ``action: flag``, kept with ``curation_keep``. The step records
  its ``iteration``: the paper re-scores the candidates with the model fine-tuned
  on seed + A_5 of iteration 1, so a second pass is a recipe that loads the
  candidates and points this step at that model's backend with ``iteration: 2``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import Role, chat, object_schema
from ...quality.rouge import rouge_l
from ...records import META
from ..common.parsing import parse_rating
from ..registry import register
from ..templates import render

PAPER = "Li et al., 2023, Self-Alignment with Instruction Backtranslation (arXiv 2308.06259)"
TAXONOMY = "synthesis / model self-improvement (instruction backtranslation)"
STAGE = "instruction tuning"
SEED_TAG = "Answer in the style of an AI Assistant."
AUGMENTED_TAG = "Answer with knowledge from web search."

# Stand-ins for the seed pairs the paper's backward model is fine-tuned on: shown to the
# model as earlier (text -> request) turns. A recipe can give its own seed pairs.
DEMONSTRATIONS = [
    {
        "output": "Paris is the capital of France. It lies on the Seine and has about two "
        "million inhabitants.",
        "instruction": "What is the capital of France?",
    },
    {
        "output": "1. Preheat the oven to 180 C. 2. Mix flour, sugar and eggs. 3. Bake for 25 "
        "minutes.",
        "instruction": "How do I bake a simple cake?",
    },
]
CURATION_SCHEMA = object_schema(
    {
        "explanation": {"type": "string", "maxLength": 200},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
    }
)


class Demonstration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    output: str = Field(min_length=1)
    instruction: str = Field(min_length=1)


class AugmentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "output"
    reference_column: str | None = None  # the text's real instruction, when known
    demonstrations: list[Demonstration] = Field(
        default_factory=lambda: [Demonstration(**d) for d in DEMONSTRATIONS]
    )
    tag: str = AUGMENTED_TAG
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(128, ge=8)


@register("humpback.augment", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Augment(MapStep):
    """Humpback self-augmentation: predict the instruction each unlabelled text answers."""

    Params = AugmentParams
    uses_llm = True

    def input_columns(self) -> set[str]:
        p = self.params
        return {p.text_column} | ({p.reference_column} if p.reference_column else set())

    def output_columns(self, input_columns: set[str]) -> set[str]:
        written = {"instruction", "output", "humpback_tag", "messages"}
        if self.params.reference_column:
            written |= {"reference_instruction", "instruction_rouge_l"}
        return input_columns | written

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        text = str(row.get(p.text_column) or "").strip()
        if not text:
            raise RowError("empty_text", f"no text in column {p.text_column!r}")
        seed = ctx.seed(row[META]["id"])
        request = chat(
            *backward_turns(p.demonstrations, text),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            stop=("\n",),
            seed=seed,
        )
        instruction = (await ctx.require_llm().complete(request)).text.strip()
        if not instruction:
            raise RowError("empty_instruction", "the model predicted an empty instruction")
        fields = {
            "instruction": instruction,
            "output": text,
            "humpback_tag": p.tag,
            "messages": training_messages(p.tag, instruction, text),
        }
        if p.reference_column:
            reference = str(row[p.reference_column])
            fields["reference_instruction"] = reference
            fields["instruction_rouge_l"] = round(rouge_l(instruction, reference), 4)
        return [self.derived(row, fields, ctx, [request], seed=seed)]


def backward_turns(demonstrations: list[Demonstration], text: str) -> list[tuple[Role, str]]:
    """The backward prompt: the task, each demonstration as a past turn, then ``text``."""
    turns: list[tuple[Role, str]] = [("system", render(__file__, "humpback_backward_system.j2"))]
    for demo in demonstrations:
        turns.append(("user", render(__file__, "humpback_backward_user.j2", text=demo.output)))
        turns.append(("assistant", demo.instruction))
    turns.append(("user", render(__file__, "humpback_backward_user.j2", text=text)))
    return turns


def training_messages(tag: str, instruction: str, output: str) -> list[dict[str, str]]:
    """The training conversation: the tag as system prompt, the instruction, the text."""
    return [
        {"role": "system", "content": tag},
        {"role": "user", "content": instruction},
        {"role": "assistant", "content": output},
    ]


class TagSeedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = SEED_TAG


@register("humpback.tag_seed", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class TagSeed(MapStep):
    """Humpback: tag seed (instruction, output) pairs with the AI-Assistant-style system prompt."""

    Params = TagSeedParams
    reads = ("instruction", "output")
    writes = ("humpback_tag", "messages")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        tag = self.params.tag
        messages = training_messages(tag, str(row["instruction"]), str(row["output"]))
        return [{**row, "humpback_tag": tag, "messages": messages}]


class CurateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: int = Field(5, ge=1, le=5)  # the paper's k: keep pairs scoring >= k
    action: Literal["drop", "flag"] = "drop"
    iteration: int = Field(1, ge=1)
    max_tokens: int = Field(256, ge=16)


@register("humpback.curate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Curate(MapStep):
    """Humpback self-curation: rate each pair on the 5-point scale, keep scores >= k (5)."""

    Params = CurateParams
    reads = ("instruction", "output")
    uses_llm = True

    def output_columns(self, input_columns: set[str]) -> set[str]:
        written = {"curation_score", "curation_reason", "iteration"}
        if self.params.action == "flag":
            written.add("curation_keep")
        return input_columns | written

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        prompt = render(
            __file__, "humpback_curate.j2", instruction=row["instruction"], output=row["output"]
        )
        request = chat(
            ("user", prompt), temperature=0, max_tokens=p.max_tokens, json_schema=CURATION_SCHEMA
        )
        score, reason = parse_curation((await ctx.require_llm().complete(request)).text)
        keep = score >= p.threshold
        if p.action == "drop" and not keep:
            return []
        fields: dict[str, Any] = {
            "curation_score": score,
            "curation_reason": reason,
            "iteration": p.iteration,
        }
        if p.action == "flag":
            fields["curation_keep"] = keep
        return [self.derived(row, fields, ctx, [request])]


def parse_curation(text: str) -> tuple[int, str]:
    """Integer score 1-5 and reason from the curation JSON (reason first, as the prompt asks)."""
    score, reason = parse_rating(text)
    if score != int(score) or not 1 <= score <= 5:
        raise RowError("bad_score", f"score {score} is not an integer from 1 to 5")
    return int(score), reason
