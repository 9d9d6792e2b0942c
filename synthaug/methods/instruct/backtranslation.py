"""Instruction backtranslation, Humpback (Li et al., 2023, ICLR 2024, arXiv 2308.06259).

Humpback labels human-written text with instructions the model writes itself:

- *Self-augmentation* (``humpback.augment``): for each unlabelled text the
  backward model predicts the instruction the text would answer, giving a
  candidate pair (instruction = the prediction, output = the text). The paper's
  backward model M_yx is fine-tuned on the (output → instruction) seed pairs
  (3,200 Open Assistant examples); here the configured model is prompted for
  it, and the seed data takes the place of that fine-tuning: ``demonstrations``
  seed pairs (default 3; seed file ``seed_path``, by default the 175
  Self-Instruct seed tasks as instruction + input → output) are drawn per text
  with the row's seed and shown as earlier (text → instruction) turns. A seed
  pair whose output is the text being labelled, or whose instruction is its
  known real instruction, is never shown; pairs longer than
  ``demonstration_chars`` are left out so that the prompt fits a small model's
  context. The whole reply is the instruction, over as many lines as the model
  writes (instructions with an input, lists or code span lines, as in the
  seed data); a reply cut off by ``max_tokens`` is an error row
  (``instruction_cut_off``), not a truncated instruction. Each pair carries the
  paper's system prompt tag for augmented data ("knowledge from web search"; seed
  data gets the "AI Assistant style" tag, which ``humpback.tag_seed`` adds) and a
  training conversation (``messages``) with the tag as its system prompt.
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

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import Role, chat, object_schema
from ...quality.rouge import rouge_l
from ...records import META
from ..common.parsing import parse_rating
from ..registry import register
from ..templates import render
from .seeds import seed_fields
from .self_instruct import load_seed_tasks

PAPER = "Li et al., 2023, Self-Alignment with Instruction Backtranslation (arXiv 2308.06259)"
TAXONOMY = "synthesis / model self-improvement (instruction backtranslation)"
STAGE = "instruction tuning"
SEED_TAG = "Answer in the style of an AI Assistant."
AUGMENTED_TAG = "Answer with knowledge from web search."

CURATION_SCHEMA = object_schema(
    {
        "explanation": {"type": "string", "maxLength": 200},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
    }
)


class Demonstration(BaseModel):
    """A seed pair shown to the backward model: the text (output) and its instruction."""

    model_config = ConfigDict(extra="forbid")
    output: str = Field(min_length=1)
    instruction: str = Field(min_length=1)


def seed_pairs(path: str | None) -> list[Demonstration]:
    """The seed (instruction, output) pairs of a seed file (default: the 175 Self-Instruct
    tasks, instruction + input -> the first instance's output); pairs with no output are
    skipped."""
    pairs = []
    for task in load_seed_tasks(path):
        fields = seed_fields(task)
        instruction, output = str(fields["instruction"]).strip(), str(fields["output"]).strip()
        if instruction and output:
            pairs.append(Demonstration(output=output, instruction=instruction))
    return pairs


def draw_demonstrations(
    pool: list[Demonstration], count: int, seed: int, text: str, reference: str | None = None
) -> list[Demonstration]:
    """``count`` seed pairs drawn with ``seed`` from ``pool``, never the text's own pair."""
    own = {" ".join(text.split())}
    known = {" ".join(reference.split())} if reference else set()
    eligible = [
        pair
        for pair in pool
        if " ".join(pair.output.split()) not in own
        and " ".join(pair.instruction.split()) not in known
    ]
    return random.Random(seed).sample(eligible, min(count, len(eligible)))


class AugmentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "output"
    reference_column: str | None = None  # the text's real instruction, when known
    seed_path: str | None = None  # seed pairs; default: the 175 Self-Instruct seed tasks
    demonstrations: int = Field(3, ge=0, le=32)  # seed pairs shown per text
    demonstration_chars: int = Field(1000, ge=1)  # longer seed pairs are not shown
    tag: str = AUGMENTED_TAG
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=8)


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

    def seed_pool(self) -> list[Demonstration]:
        """The seed pairs short enough to show (read once per step)."""
        if not hasattr(self, "_pool"):
            limit = self.params.demonstration_chars
            pairs = seed_pairs(self.params.seed_path)
            self._pool = [p for p in pairs if len(p.output) + len(p.instruction) <= limit]
        return self._pool

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        text = str(row.get(p.text_column) or "").strip()
        if not text:
            raise RowError("empty_text", f"no text in column {p.text_column!r}")
        seed = ctx.seed(row[META]["id"])
        reference = str(row[p.reference_column]) if p.reference_column else None
        shown = draw_demonstrations(self.seed_pool(), p.demonstrations, seed, text, reference)
        request = chat(
            *backward_turns(shown, text),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=seed,
        )
        choice = (await ctx.require_llm().complete(request)).choices[0]
        instruction = choice.text.strip()
        if not instruction:
            raise RowError("empty_instruction", "the model predicted an empty instruction")
        if choice.finish_reason == "length":
            raise RowError(
                "instruction_cut_off", f"the instruction reached max_tokens ({p.max_tokens})"
            )
        fields = {
            "instruction": instruction,
            "output": text,
            "humpback_tag": p.tag,
            "messages": training_messages(p.tag, instruction, text),
        }
        if reference is not None:
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
