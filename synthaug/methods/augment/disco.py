"""DISCO, distilled counterfactual data (Chen et al., ACL 2023, "DISCO: Distilling
Counterfactuals with Large Language Models", arXiv 2212.10534).

DISCO masks a span of an NLI example, has an LLM fill it so the example gets a chosen
**target label** (several generations per input), drops generations with heuristic
filters (forbidden phrases such as ``[blank]`` or ``answer:``, ``_`` gaps, copies of the
input), and keeps only those a task teacher (a DeBERTa-v3 NLI model) confirms: the
counterfactual score p_new(target) - p_orig(target) must exceed 0.25.

``disco.counterfactuals`` does this for single-text classification. Spans come from a rule
(runs of content words between stopwords and punctuation, the longest ``spans`` of them; the
paper's spans come from a syntactic parser). For each span and each target label (every
label but the row's), the model gets the text with the span replaced by ``[blank]`` and a
few-shot prompt (``demonstrations``, as earlier chat turns) and fills it ``generations``
times. A reply that repeats the text around the blank is read as the whole new text, a
short reply as the words for the blank; a long one that drops the context is
``context_changed``. After the heuristic filter, a teacher (``teacher``: a named backend,
by default the recipe's model) labels the new text and the original under a JSON schema
whose ``label`` is an enum of ``labels``, greedily. The discrete form of DISCO's score test:
keep a counterfactual when the teacher gives it the target label and did not already give
the original the target (``require_original_differs``). Records: ``text`` (the
counterfactual), ``label`` (the target), ``original_text``, ``original_label``, ``span``,
``masked_text``, ``fill``, ``target_label``, ``teacher_label``,
``teacher_original_label``, ``kept``, ``rejected_because``; rejected ones are error rows of
their reason (``empty``, ``identical``, ``duplicate``, ``forbidden_phrase``,
``context_changed``, ``teacher_disagrees``, ``original_already_target``,
``unparseable_teacher``) unless ``keep_rejected``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, chat, json_object
from ...quality import stopwords
from ...records import META
from ..registry import register
from ..templates import render
from .labelled import (
    STAGE,
    LabelParams,
    filtered,
    first_line,
    label_of,
    label_schema,
    label_word,
    normalized,
    text_of,
)

PAPER = "Chen et al., 2023, DISCO: Distilling Counterfactuals with LLMs (arXiv 2212.10534)"
TAXONOMY = "augmentation / data reformation (counterfactuals, teacher-filtered)"
BLANK = "[blank]"
# DISCO's forbidden phrases (distiller/filter/core.py), plus its "_" gap check
FORBIDDEN = ("[blank]", "blank]", "it is true", "it is false", "story:", "answer:", "headline:")
WORD = re.compile(r"[\w'’-]+|[^\w\s]")
DEMONSTRATIONS = [
    {
        "masked": "local man [blank] after winning the lottery",
        "target": "sarcastic",
        "fill": "bravely endures crushing burden of wealth",
    },
    {
        "masked": "area dad [blank] during family road trip",
        "target": "not_sarcastic",
        "fill": "injured in highway crash",
    },
]


def spans(text: str, count: int) -> list[tuple[int, int]]:
    """Up to ``count`` (start, end) character spans of ``text``: maximal runs of content
    words, the most words first (ties: leftmost), returned in text order."""
    tokens = list(WORD.finditer(text))
    runs: list[tuple[int, int, int]] = []  # (-words, start, end)
    first = None
    for i, token in enumerate([*tokens, None]):
        word = token.group() if token else "."
        content = word[0].isalnum() and word.lower() not in stopwords.DISCO
        if content and first is None:
            first = i
        elif not content and first is not None:
            runs.append((first - i, tokens[first].start(), tokens[i - 1].end()))
            first = None
    runs.sort()
    return sorted((start, end) for _, start, end in runs[:count])


def masked(text: str, span: tuple[int, int]) -> tuple[str, str, str, str]:
    """(text before the span, the span, text after it, the masked text)."""
    start, end = span
    return (
        text[:start].strip(),
        text[start:end],
        text[end:].strip(),
        text[:start] + BLANK + text[end:],
    )


def filled(reply: str, before: str, after: str, span: str) -> tuple[str, str, str | None]:
    """(the new text, the words for the blank, why it is rejected or None) from a fill
    reply: the whole new text when it keeps the context around the blank, else the reply
    as the blank's words."""
    line = first_line(reply)
    low = normalized(line)
    if not low:
        return "", "", "empty"
    if any(phrase in low for phrase in FORBIDDEN) or "_" in line:
        return line, "", "forbidden_phrase"
    head, tail = normalized(before), normalized(after)
    if low.startswith(head) and low.endswith(tail) and len(low) > len(head) + len(tail) + 1:
        return line, line[len(before) : len(line) - len(after)].strip(), None
    if len(line.split()) <= len(span.split()) + 5:
        fill = line.strip(" .,")
        return " ".join(part for part in (before, fill, after) if part), fill, None
    return line, "", "context_changed"


def parse_label(text: str, labels: list[str]) -> str | None:
    """The teacher's label, or None when the reply is not a complete label object."""
    label = json_object(text).get("label")
    return label if label in labels else None


class Demonstration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    masked: str = Field(min_length=1)
    target: str = Field(min_length=1)
    fill: str = Field(min_length=1)


class DiscoParams(LabelParams):
    model_config = ConfigDict(extra="forbid")
    kind: str = "news headline"
    spans: int = Field(2, ge=1, le=8)  # spans masked per text (ours)
    generations: int = Field(3, ge=1, le=16)  # fills per span and target (overgeneration)
    temperature: float = Field(0.8, ge=0, le=2)
    max_tokens: int = Field(32, ge=4)
    demonstrations: list[Demonstration] = Field(
        default_factory=lambda: [Demonstration(**d) for d in DEMONSTRATIONS]
    )
    teacher: str = "default"  # a name in the recipe's backends
    teacher_max_tokens: int = Field(32, ge=16)
    require_original_differs: bool = True  # DISCO's gain over p_orig(target), discretely
    keep_rejected: bool = False


@register("disco.counterfactuals", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Counterfactuals(MapStep):
    """DISCO: fill a masked span toward a target label; keep what the teacher confirms flipped."""

    Params = DiscoParams
    writes = (
        "original_text",
        "original_label",
        "span",
        "masked_text",
        "fill",
        "target_label",
        "teacher_label",
        "teacher_original_label",
        "kept",
        "rejected_because",
    )
    uses_llm = True
    backend_params = ("teacher",)

    def input_columns(self) -> set[str]:
        return {self.params.text_column, self.params.label_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | set(self.writes)

    def fill_request(self, masked_text: str, target: str, seed: int) -> ChatRequest:
        p = self.params
        turns: list[tuple[Any, str]] = []
        for shot in p.demonstrations:
            prompt = render(
                __file__,
                "disco_fill.j2",
                kind=p.kind,
                masked=shot.masked,
                target=label_word(shot.target),
            )
            turns += [("user", prompt), ("assistant", shot.fill)]
        prompt = render(
            __file__, "disco_fill.j2", kind=p.kind, masked=masked_text, target=label_word(target)
        )
        return chat(
            *turns,
            ("user", prompt),
            n=p.generations,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=seed,
        )

    def teacher_request(self, text: str, seed: int) -> ChatRequest:
        p = self.params
        prompt = render(__file__, "disco_teacher.j2", kind=p.kind, labels=p.labels, text=text)
        return chat(
            ("user", prompt),
            temperature=0,
            max_tokens=p.teacher_max_tokens,
            json_schema=label_schema(p.labels),
            seed=seed,
        )

    async def judge(self, teacher: LLMClient, texts: list[str], seed: int) -> dict[str, Any]:
        """The teacher's label (None: unparseable) of each distinct text, and its requests."""
        distinct = list(dict.fromkeys(texts))
        requests = [self.teacher_request(t, seed) for t in distinct]
        replies = await asyncio.gather(*(teacher.complete(r) for r in requests))
        labels = {
            t: parse_label(r.text, self.params.labels)
            for t, r in zip(distinct, replies, strict=True)
        }
        return {"labels": labels, "requests": requests}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        text, label = text_of(row, p.text_column), label_of(row, p)
        llm, teacher, row_id = ctx.require_llm(), ctx.require_llm(p.teacher), row[META]["id"]
        jobs = [
            (span, target, masked(text, span))
            for span in spans(text, p.spans)
            for target in p.labels
            if target != label
        ]
        requests = [
            self.fill_request(m[3], target, ctx.seed(row_id, "fill", s[0], s[1], target))
            for s, target, m in jobs
        ]
        replies = await asyncio.gather(*(llm.complete(r) for r in requests))
        candidates = []
        for (_, target, (before, middle, after, masked_text)), reply in zip(
            jobs, replies, strict=True
        ):
            for choice in reply.choices:
                new, fill, reason = filled(choice.text, before, after, middle)
                if reason is None and normalized(new) == normalized(text):
                    reason = "identical"
                candidates.append(
                    {
                        "new": new,
                        "reason": reason,
                        "target": target,
                        "span": middle,
                        "masked": masked_text,
                        "fill": fill,
                    }
                )
        to_judge = [c["new"] for c in candidates if c["reason"] is None]
        judged = (
            await self.judge(teacher, [text, *to_judge], ctx.seed("teacher"))
            if to_judge
            else {"labels": {}, "requests": []}
        )
        original_verdict = judged["labels"].get(text)
        provenance = {
            "model": llm.backend.describe(),
            "request": [llm.key(r) for r in requests]
            + [teacher.key(r) for r in judged["requests"]],
        }
        out, seen = [], set()
        for i, c in enumerate(candidates):
            reason, verdict = c["reason"], judged["labels"].get(c["new"])
            if reason is None and normalized(c["new"]) in seen:
                reason = "duplicate"
            seen.add(normalized(c["new"]))
            if reason is None:
                reason = self.teacher_reason(verdict, original_verdict, c["target"])
            fields = {
                p.text_column: c["new"],
                p.label_column: c["target"],
                "original_text": text,
                "original_label": label,
                "span": c["span"],
                "masked_text": c["masked"],
                "fill": c["fill"],
                "target_label": c["target"],
                "teacher_label": verdict,
                "teacher_original_label": original_verdict,
            }
            out.append(filtered(self, row, fields, reason, i, p.keep_rejected, **provenance))
        return out

    def teacher_reason(self, verdict: str | None, original: str | None, target: str) -> str | None:
        """Why the teacher rejects a counterfactual, or None when it confirms the flip."""
        if verdict is None or original is None:
            return "unparseable_teacher"
        if verdict != target:
            return "teacher_disagrees"
        if self.params.require_original_differs and original == target:
            return "original_already_target"
        return None
