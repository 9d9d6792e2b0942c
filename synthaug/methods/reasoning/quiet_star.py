"""Quiet-STaR thoughts as data (Zelikman et al., 2024, "Quiet-STaR: Language Models Can Teach
Themselves to Think Before Speaking", arXiv 2403.09629; code: ezelikman/quiet-star).

The paper trains a model to think before each token: at every position of a text it samples a
thought between learned start/end-of-thought tokens (their embeddings start as the em dash's,
"—"), mixes the predictions with and without the thought, and rewards a thought by how much it
raises the log-likelihood of the next n_true *true* tokens (teacher-forced) relative to the
mean over the thoughts sampled there, training the thought generation with REINFORCE. The
released training script: 12 thought tokens (``n_ahead``), 4 true tokens (``n_ahead_talk``),
2 passes (``n_passes``, read here as thoughts per position), markers ``<|startthought|>`` and
``<|endthought|>``.

**Training thought tokens with REINFORCE is beyond this project.** ``quiet_star.thoughts``
builds the data approximation: at ``positions`` sampled word boundaries of a text it samples
``k`` thoughts (raw completion after the prefix and the opening "—", up to ``thought_tokens``,
stopped at the closing "—" or a newline), scores each by the gain in teacher-forced
log-likelihood of the next ``n_true`` true tokens with the thought versus without it (the
no-thought text is the baseline, not the mean over thoughts), keeps a thought whose gain
exceeds ``threshold``, and writes ``thought_text``: the text with the best kept thought of
each position between the markers. Log-probabilities come from forced decoding
(``common.logprobs``, as Toolformer here): the n_true tokens are those forced decoding picks
after the prefix alone, and every thought is scored on the same characters. Other
differences: positions are sampled (the paper thinks at every token); nothing mixes or learns;
``threshold`` is ours (default 0: a thought must help). Output columns: ``thoughts`` (each
sampled thought with ``offset``, ``logprob``, ``base_logprob``, ``gain``, ``kept``) and
``thought_text``; the texts default to ``data/toolformer_texts.jsonl`` (``quiet_star.texts``).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...io import count_records, read_records
from ...llm.types import ChatRequest, Completion
from ...records import META, source_record
from ..common.logprobs import forced_grammar, forced_tokens
from ..common.sampling import sample
from ..registry import register

PAPER = (
    "Zelikman et al., 2024, Quiet-STaR: Language Models Can Teach Themselves to Think Before "
    "Speaking (arXiv 2403.09629)"
)
TAXONOMY = "synthesis / model self-improvement (rationales scored by next-token likelihood)"
STAGE = "pretraining (continued, text with thoughts)"
BUILTIN_TEXTS = "toolformer_texts.jsonl"
SPAN_SLACK = 8  # extra tokens a scoring request may use to spell the true span
WORD_START = re.compile(r"(?<=\S) (?=\S)")


class TextsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # None: the packaged toolformer_texts.jsonl
    format: str = "auto"


@register("quiet_star.texts", taxonomy="I/O", stage=STAGE, paper=PAPER)
class Texts(SourceStep):
    """Plain texts to think about (default: the packaged short arithmetic texts)."""

    Params = TextsParams
    writes = ("text",)
    seed_data: ClassVar[dict[str, str]] = {"path": BUILTIN_TEXTS}

    def path(self) -> str:
        return self.params.path or str(resources.files("synthaug") / "data" / BUILTIN_TEXTS)

    def expected_rows(self) -> int | None:
        return count_records(self.path(), fmt=self.params.format)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or BUILTIN_TEXTS
        records = read_records(self.path(), fmt=self.params.format, required=["text"])
        for index, record in enumerate(records):
            yield source_record(record, source=source, index=index)


class ThoughtsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    positions: int = Field(4, ge=1)  # sampled word boundaries per text (paper: every token)
    k: int = Field(2, ge=1, le=32)  # thoughts per position (released script: n_passes = 2)
    thought_tokens: int = Field(12, ge=1)  # released script: n_ahead = 12
    n_true: int = Field(4, ge=1)  # true tokens scored (released script: n_ahead_talk = 4)
    temperature: float = Field(1.0, ge=0, le=2)
    threshold: float = 0.0  # keep a thought whose gain (nats) exceeds this (ours)
    opening: str = "—"  # what opens and closes a thought in the prompt (the paper's init)
    start_marker: str = "<|startthought|>"
    end_marker: str = "<|endthought|>"


def boundaries(text: str) -> list[int]:
    """Offsets of the spaces that begin a word (a thought goes before the space)."""
    return [m.start() for m in WORD_START.finditer(text)]


def spelt_prefix(completion: Completion, text: str) -> tuple[str, float]:
    """The forced tokens' text (a prefix of ``text``) and its summed log-probability."""
    tokens = forced_tokens(completion)
    got = "".join(t.token for t in tokens)
    if not text.startswith(got):
        raise RowError("grammar_ignored", f"the forced tokens spell {got[:80]!r}, not the text")
    return got, sum(t.logprob for t in tokens)


def insert_thoughts(text: str, thoughts: list[dict[str, Any]], start: str, end: str) -> str:
    """``text`` with each thought placed at its offset between the markers."""
    out, last = [], 0
    for t in sorted(thoughts, key=lambda t: t["offset"]):
        out += [text[last : t["offset"]], f" {start}{t['thought']}{end}"]
        last = t["offset"]
    return "".join([*out, text[last:]])


@register("quiet_star.thoughts", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Thoughts(MapStep):
    """Quiet-STaR data: k thoughts per sampled position, kept when they help predict the text."""

    Params = ThoughtsParams
    reads = ("text",)
    writes = ("thoughts", "thought_text")
    uses_llm = True

    def scoring(self, prompt: str, span: str, tokens: int) -> ChatRequest:
        return ChatRequest(prompt=prompt, temperature=0, max_tokens=tokens,
                           grammar=forced_grammar(span), logprobs=True)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, text = self.params, row["text"]
        places = boundaries(text)
        if not places:
            raise RowError("no_positions", "the text has fewer than two words")
        rng = random.Random(ctx.seed(row[META]["id"], "positions"))
        chosen = sorted(rng.sample(places, min(p.positions, len(places))))
        llm = ctx.require_llm()
        results = await asyncio.gather(*(self.at(text, at, llm, ctx, row) for at in chosen))
        thoughts = [t for found, _ in results for t in found]
        requests = [r for _, used in results for r in used]
        best: dict[int, dict[str, Any]] = {}
        for t in thoughts:
            if t["kept"] and (t["offset"] not in best or t["gain"] > best[t["offset"]]["gain"]):
                best[t["offset"]] = t
        fields = {
            "thoughts": thoughts,
            "thought_text": insert_thoughts(
                text, list(best.values()), p.start_marker, p.end_marker
            ),
        }
        return [self.derived(row, fields, ctx, requests)]

    async def at(
        self, text: str, at: int, llm: Any, ctx: StepContext, row: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[ChatRequest]]:
        """The scored thoughts at offset ``at`` and the requests made."""
        p = self.params
        prefix, rest = text[:at], text[at:]
        base_request = self.scoring(prefix, rest, p.n_true)
        thought_request = ChatRequest(
            prompt=f"{prefix} {p.opening}", n=p.k, temperature=p.temperature,
            max_tokens=p.thought_tokens, stop=(p.opening, "\n"),
            seed=ctx.seed(row[META]["id"], "thoughts", at),
        )  # fmt: skip
        base, (choices, sampled) = await asyncio.gather(
            llm.complete(base_request), sample(llm, thought_request)
        )
        span, base_logprob = spelt_prefix(base, rest)
        texts = list(dict.fromkeys(c.text.strip() for c in choices if c.text.strip()))
        requests = [
            self.scoring(f"{prefix} {p.opening}{t}{p.opening}", span, p.n_true + SPAN_SLACK)
            for t in texts
        ]
        scored = await asyncio.gather(*(llm.complete(r) for r in requests))
        found = []
        for thought, reply in zip(texts, scored, strict=True):
            got, logprob = spelt_prefix(reply, span)
            if got != span:  # the span needed more tokens after this thought: not comparable
                continue
            gain = round(logprob - base_logprob, 6)
            found.append({"offset": at, "thought": thought, "logprob": round(logprob, 6),
                          "base_logprob": round(base_logprob, 6), "gain": gain,
                          "kept": gain > p.threshold})  # fmt: skip
        return found, [base_request, *sampled, *requests]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        kept = [t for t in row["thoughts"] if t["kept"]]
        return {"thoughts": len(row["thoughts"]), "kept_thoughts": len(kept)}
