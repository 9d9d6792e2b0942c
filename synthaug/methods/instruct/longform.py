"""LongForm: reverse instructions for human-written documents.

Köksal, Schick, Korhonen and Schütze, 2023, "LongForm: Effective Instruction Tuning with
Reverse Instructions" (arXiv 2304.08460; data and models: ``akoksal/LongForm``). For each
human-written document (C4 and English Wikipedia in the paper) an LLM writes the instruction
the document would answer, and (instruction, document) becomes a training pair whose output
is natural, long, human text.

``longform.reverse`` does this per document:

- *Task-type templates.* One of the paper's three instruction styles is drawn per document
  with the row's seed: a formal ``instruction`` ("Instruction: X / Output: <document> /
  What kind of instruction could this be the answer to? / X:"), an ``informal chatbot``
  message (the document is the chatbot's reply) and a detailed ``search engine query`` (the
  document is the most relevant result). ``style_weights`` sets the mix; the default
  50/30/20 is our reading of the paper.
- *Length handling.* Documents shorter than ``min_words`` are dropped (``too_short``); longer
  than ``max_words`` are cut at the last sentence end within the limit, and the cut text is
  both what the model sees and the output (``truncated``). With probability
  ``length_probability`` the instruction gets a length phrase computed from the output, as
  the paper adds length information to its instructions ("Respond in 3 paragraphs.", "...
  in 7 sentences.", "... in about 160 words."): paragraphs when the output has several,
  otherwise sentences or words.
- The instruction is the reply up to its first blank line or a line opening another
  template field such as "Reply:" (surrounding quotes removed); an
  empty one is ``empty_instruction``, one cut off by ``max_tokens`` is
  ``instruction_cut_off``.

Output columns: ``instruction`` (with the length phrase, if any), ``output`` (the document
text), ``style``, ``length_phrase``, ``truncated``. What differs: the paper used
text-davinci-003 zero-shot on 15K sampled C4/Wikipedia documents and added further
structured sources (Stack Exchange, WikiHow) and task datasets; those are other recipes'
inputs here. The cut-off at ``max_words`` and the word bounds are this module's; the exact
length phrases of the paper are not reproduced.
"""

from __future__ import annotations

import random
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import one_prompt
from ...records import META
from ..registry import register
from ..templates import render

PAPER = "Köksal et al., 2023, LongForm: reverse instructions (arXiv 2304.08460)"
TAXONOMY = "synthesis / general model distillation (reverse instructions for human text)"
STAGE = "instruction tuning (long text generation)"
STYLES = ("instruction", "chatbot", "search")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def cut_to_words(text: str, max_words: int) -> tuple[str, bool]:
    """``text`` cut at the last sentence end within ``max_words`` words (at ``max_words`` when
    the first sentence is longer), and whether it was cut."""
    words = text.split()
    if len(words) <= max_words:
        return text, False
    sentences, kept, count = SENTENCE_END.split(text), [], 0
    for sentence in sentences:
        count += len(sentence.split())
        if count > max_words:
            break
        kept.append(sentence)
    cut = " ".join(kept) if kept else " ".join(words[:max_words])
    return cut.strip(), True


def length_phrase(text: str, rng: random.Random) -> str:
    """A length instruction computed from ``text``: paragraphs when it has several, otherwise
    sentences or (rounded) words."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) > 1:
        return f"Respond in {len(paragraphs)} paragraphs."
    if rng.random() < 0.5:
        sentences = [s for s in SENTENCE_END.split(text.strip()) if s.strip()]
        unit = "sentence" if len(sentences) == 1 else "sentences"
        return f"Respond in {len(sentences)} {unit}."
    return f"Respond in about {max(10, round(len(text.split()), -1))} words."


def parse_instruction(text: str) -> str:
    """The instruction in a reply: up to the first blank line or a line that opens another
    template field ("Reply:", "Output:", "Y:"), quotes stripped."""
    first = re.split(r"\n\s*\n|\n\s*[A-Z][\w ]{0,20}:", text.strip(), maxsplit=1)[0]
    return first.strip().strip("\"'“”").strip()


class ReverseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "document"
    style_weights: dict[Literal["instruction", "chatbot", "search"], float] = Field(
        default_factory=lambda: {"instruction": 0.5, "chatbot": 0.3, "search": 0.2}
    )
    min_words: int = Field(50, ge=1)
    max_words: int = Field(1000, ge=10)
    length_probability: float = Field(0.5, ge=0, le=1)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(128, ge=8)
    mode: Literal["completion", "chat"] = "completion"

    @field_validator("style_weights")
    @classmethod
    def _some_weight(cls, weights: dict[str, float]) -> dict[str, float]:
        if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("style_weights needs a positive weight and no negative one")
        return weights


@register("longform.reverse", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Reverse(MapStep):
    """LongForm: write the instruction a human-written document answers (3 task styles)."""

    Params = ReverseParams
    writes = ("instruction", "output", "style", "length_phrase", "truncated")
    uses_llm = True

    def input_columns(self) -> set[str]:
        return {self.params.text_column}

    def plan(self, row: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        """The row's document (cut to length), style and length phrase, drawn with its seed."""
        p = self.params
        text = str(row.get(p.text_column) or "").strip()
        if len(text.split()) < p.min_words:
            raise RowError("too_short", f"{len(text.split())} words; min_words is {p.min_words}")
        document, truncated = cut_to_words(text, p.max_words)
        rng = random.Random(ctx.seed(row[META]["id"]))
        styles = list(p.style_weights)
        style = rng.choices(styles, weights=[p.style_weights[s] for s in styles])[0]
        phrase = length_phrase(document, rng) if rng.random() < p.length_probability else ""
        return {"document": document, "truncated": truncated, "style": style, "phrase": phrase}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, plan = self.params, self.plan(row, ctx)
        prompt = render(__file__, f"longform_{plan['style']}.j2", document=plan["document"])
        options = {"temperature": p.temperature, "max_tokens": p.max_tokens, "stop": ("\n\n",)}
        request = one_prompt(prompt, p.mode, **options)
        choice = (await ctx.require_llm().complete(request)).choices[0]
        if choice.finish_reason == "length":
            raise RowError("instruction_cut_off", "the instruction reached max_tokens")
        instruction = parse_instruction(choice.text)
        if not instruction:
            raise RowError("empty_instruction", "the model wrote no instruction")
        fields = {
            "instruction": f"{instruction} {plan['phrase']}".strip(),
            "output": plan["document"],
            "style": plan["style"],
            "length_phrase": plan["phrase"],
            "truncated": plan["truncated"],
        }
        return [self.derived(row, fields, ctx, [request])]
