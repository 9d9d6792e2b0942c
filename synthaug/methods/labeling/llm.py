"""``label.llm``: classify each row with an LLM, under a JSON schema whose label is an enum.

The labels, their descriptions, instruction phrasings and few-shot examples come from a label
schema file (``schema``: a path or a built-in name; see ``schema.py``). Every reply is decoded
under a JSON schema with ``label`` an enum of the label names, so a complete reply is always a
valid label; ``explain: true`` adds an ``explanation`` string, ``ask_confidence: true`` an integer
``confidence`` 0-100 (the model's self-evaluation, CoAnnotating's alternative uncertainty).
``shots: k`` puts the first k schema examples before the item as user/assistant turns (an
example whose text equals the item is skipped).

Self-consistency: each of ``prompt_variants`` prompts is asked ``samples`` times (one request,
``n=samples``; temperature must then be > 0). The prompt variants follow CoAnnotating (Li et al.,
2023, arXiv 2310.15638): its prompt types (the basic instruction with the text after or before
it, a question, multiple choice) crossed with the schema's instruction phrasings; the negated
true/false and "confirmation bias" forms of its binary MRPC prompts are left out (they do not
extend to k labels). The answers give ``label`` (majority; a tie goes to the label with the
higher mean stated confidence, then to the one listed first), ``label_votes`` ({label:
count}), ``label_confidence`` (vote share of the majority among all answers; with a single
answer and ``ask_confidence``, the stated confidence / 100), ``label_entropy`` (bits over
the answers, an unparsed answer counted as its own value, as in CoAnnotating),
``label_stated_confidence`` (mean stated 0-100 confidence of the answers that
agree with the majority; null without ``ask_confidence``) and ``label_explanation`` (of the
first agreeing answer; null without ``explain``). A reply cut off by ``max_tokens`` is parsed
for its label where that much survived; a row whose replies all fail to parse is an error
row, ``unparseable_label``; an empty text is ``empty_text``.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import asdict
from statistics import mean
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...errors import RecipeError
from ...llm.sampling import SelfConsistency
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .schema import Example, LabelSchema, load_schema
from .votes import entropy_bits, majority, vote_counts

PAPER = (
    "Li et al., 2023, CoAnnotating (arXiv 2310.15638); Wang et al., 2022, Self-Consistency "
    "(arXiv 2203.11171)"
)
TAXONOMY = "synthesis / data labeling (LLM annotation)"
STAGE = "labeling (classification data)"
Style = Literal["instruction_first", "text_first", "question", "multiple_choice"]
STYLES: tuple[Style, ...] = Style.__args__
OUTPUT = (
    "label",
    "label_votes",
    "label_confidence",
    "label_entropy",
    "label_stated_confidence",
    "label_explanation",
)


def reply_schema(names: list[str], explain: bool, ask_confidence: bool) -> dict[str, Any]:
    """The JSON schema of one reply: ``label`` (an enum), then confidence and explanation."""
    properties: dict[str, Any] = {"label": {"type": "string", "enum": list(names)}}
    if ask_confidence:
        properties["confidence"] = {"type": "integer", "minimum": 0, "maximum": 100}
    if explain:
        properties["explanation"] = {"type": "string", "maxLength": 300}
    return object_schema(properties)


_LABEL = re.compile(r'"label"\s*:\s*"([^"]*)"')
_CONFIDENCE = re.compile(r'"confidence"\s*:\s*(\d+)\s*[,}\n]')


def parse_reply(text: str, names: list[str]) -> dict[str, Any]:
    """``{label, confidence, explanation}`` of one reply; label None when it does not parse.

    A reply cut off after its label (e.g. inside the explanation) keeps the label (and the
    confidence when it came whole before the cut)."""
    reply = json_object(text)
    if not reply:
        found, stated = _LABEL.search(text), _CONFIDENCE.search(text)
        reply = {
            "label": found.group(1) if found else None,
            "confidence": int(stated.group(1)) if stated else None,
        }
    label = reply.get("label") if reply.get("label") in names else None
    confidence = reply.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int) or confidence > 100:
        confidence = None
    explanation = reply.get("explanation")
    return {
        "label": label,
        "confidence": confidence if label else None,
        "explanation": explanation if label and isinstance(explanation, str) else None,
    }


def aggregate(
    answers: list[dict[str, Any]], names: list[str], ask_confidence: bool
) -> dict[str, Any]:
    """The label columns from the parsed ``answers`` of one item (see the module docstring)."""
    labels = [a["label"] for a in answers]
    stated_by_label: dict[str, list[int]] = {}
    for a in answers:
        if a["label"] is not None and a["confidence"] is not None:
            stated_by_label.setdefault(a["label"], []).append(a["confidence"])
    winner = majority(labels, names, {k: mean(v) for k, v in stated_by_label.items()})
    agreeing = [a for a in answers if winner is not None and a["label"] == winner]
    stated = [a["confidence"] for a in agreeing if a["confidence"] is not None]
    stated_mean = round(mean(stated), 4) if ask_confidence and stated else None
    share = round(len(agreeing) / len(answers), 6) if answers else 0.0
    if len(answers) == 1 and stated_mean is not None:
        share = stated_mean / 100
    explanations = [a["explanation"] for a in agreeing if a["explanation"]]
    return {
        "label": winner,
        "label_votes": vote_counts(labels, names),
        "label_confidence": share,
        "label_entropy": entropy_bits(labels),
        "label_stated_confidence": stated_mean,
        "label_explanation": explanations[0] if explanations else None,
    }


class LabelParams(SelfConsistency):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_file: str = Field(alias="schema")  # a path, or a built-in schema name (sarcasm)
    text_column: str = "text"
    shots: int = Field(0, ge=0)  # 0: zero-shot
    # CoAnnotating asks each item with k prompt types (9 for MRPC); 1 here keeps the cost down
    prompt_variants: int = Field(1, ge=1)
    # samples per variant; CoAnnotating: one answer per prompt. Self-consistency samples
    # several reasoning paths (40 in Wang et al.) at temperature 0.5-0.7
    samples: int = Field(1, ge=1, le=64)
    # None: 0 for one sample, else 0.7 (Wang et al.'s temperature for GPT-3 and PaLM)
    temperature: float | None = Field(None, ge=0, le=2)
    explain: bool = False
    ask_confidence: bool = False
    max_tokens: int = Field(64, ge=8)


@register("label.llm", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class LabelLLM(MapStep):
    """Label each text with an LLM (enum-constrained), self-consistency over samples and prompts."""

    Params = LabelParams
    writes = OUTPUT
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.schema: LabelSchema = load_schema(self.params.schema_file)
        p, schema = self.params, self.schema
        if p.shots > len(schema.examples):
            raise RecipeError(
                f"step {self.name}: params.shots: {p.shots}, but {schema.path} has "
                f"{len(schema.examples)} examples"
            )
        variants = len(STYLES) * len(schema.instructions)
        if p.prompt_variants > variants:
            raise RecipeError(
                f"step {self.name}: params.prompt_variants: at most {variants} "
                f"({len(STYLES)} prompt types x {len(schema.instructions)} instructions)"
            )

    def input_columns(self) -> set[str]:
        return {self.params.text_column}

    def fingerprint_fields(self) -> dict[str, Any]:
        content = {k: v for k, v in asdict(self.schema).items() if k != "path"}
        return {**super().fingerprint_fields(), "schema": content}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, names = self.params, self.schema.names
        text = row.get(p.text_column)
        if not isinstance(text, str) or not text.strip():
            return [dropped(self, row, "empty_text", f"column {p.text_column!r} is empty", 0)]
        requests = [
            self.request(text.strip(), v, ctx.seed(row[META]["id"], "label", v))
            for v in range(p.prompt_variants)
        ]
        llm = ctx.require_llm()
        replies = await asyncio.gather(*(llm.complete(r) for r in requests))
        answers = [parse_reply(c.text, names) for reply in replies for c in reply.choices]
        fields = aggregate(answers, names, p.ask_confidence)
        if fields["label"] is None:
            message = f"none of {len(answers)} replies gave a label (raise max_tokens)"
            return [dropped(self, row, "unparseable_label", message, 0)]
        return [self.derived(row, fields, ctx, requests)]

    def request(self, text: str, variant: int, seed: int) -> ChatRequest:
        """Prompt variant ``variant`` for ``text``: few-shot turns, then the item."""
        p, schema = self.params, self.schema
        style = STYLES[variant % len(STYLES)]
        instruction = schema.instructions[variant % len(schema.instructions)]
        turns: list[tuple[str, str]] = []
        for example in [e for e in schema.examples if e.text != text][: p.shots]:
            turns += [("user", self.prompt(style, instruction, example.text))]
            turns += [("assistant", self.example_reply(example))]
        turns.append(("user", self.prompt(style, instruction, text)))
        return chat(
            *turns,
            n=p.samples,
            temperature=p.sampling_temperature,
            max_tokens=p.max_tokens,
            json_schema=reply_schema(schema.names, p.explain, p.ask_confidence),
            seed=seed,
        )

    def prompt(self, style: Style, instruction: str, text: str) -> str:
        return render(
            __file__,
            "label_prompt.j2",
            style=style,
            instruction=instruction,
            labels=self.schema.labels,
            text=text,
            explain=self.params.explain,
            ask_confidence=self.params.ask_confidence,
        )

    def example_reply(self, example: Example) -> str:
        """A few-shot answer: the example's label (and explanation when it has one)."""
        reply: dict[str, Any] = {"label": example.label}
        if self.params.explain and example.explanation:
            reply["explanation"] = example.explanation
        return json.dumps(reply)
