"""GPT3Mix (Yoo et al., Findings of EMNLP 2021, "GPT3Mix: Leveraging Large-scale Language
Models for Text Augmentation", arXiv 2104.08826).

GPT3Mix builds a prompt from **k = 2** labelled examples sampled from the training set, with
a header naming the text type, the label type and the label set ("Each item in the
following list contains a movie review and the respective sentiment. The sentiment is one
of 'positive' or 'negative'."), each example as ``Movie review: ... (Sentiment: positive)``,
and lets the language model continue with a new item: a new text, then its label. The
label's **soft label** is the model's probability of each label word after
``(Sentiment:``, normalised over the label set; the classifier learns from the soft labels
(knowledge distillation).

``gpt3mix.examples`` (no model) makes each input row the anchor of ``per_row`` prompts and
adds ``k - 1`` other input rows sampled with the run seed, in shuffled order (GPT3Mix samples
all k at random; anchoring gives every row an equal share). ``gpt3mix.mix`` renders the
raw-completion prompt, samples the new text up to the end of the line or the label marker,
then asks for the label after ``(<Label type>:`` under a grammar of the label words
(``label_words``, by default the labels with ``_`` read as spaces). With ``logprobs`` (the
local backend and llama.cpp servers return the first label token's top log-probabilities,
before the grammar) the soft label is the probability mass of the tokens that start exactly
one label word, normalised; otherwise (or when no such token is in the top 20) it is the
vote share over ``samples`` label samples at temperature 1. Records: ``text``, ``label``
(the soft label's argmax), ``soft_label`` ({label: p}), ``soft_label_source``
(``logprobs`` | ``votes``), ``examples`` (the mixed examples' ids, texts and labels);
an empty text or a copy of an example is an error row (``empty``, ``copied_example``).

The paper uses GPT-3 (davinci, 175B).
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ConfigDict, Field

from ...engine.step import MapStep, StepContext, WholeStep
from ...llm.types import ChatRequest, Completion
from ...records import META, derive
from ..registry import register
from ..templates import render
from .labelled import STAGE, LabelParams, filtered, label_word, normalized

PAPER = "Yoo et al., 2021, GPT3Mix (arXiv 2104.08826)"
TAXONOMY = "augmentation / data reformation (example mixing, soft labels)"


class ExamplesParams(LabelParams):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(2, ge=1, le=10)  # examples per prompt: the paper's k = 2
    per_row: int = Field(1, ge=1, le=100)  # prompts anchored on each row (augmentation ratio)


@register("gpt3mix.examples", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Examples(WholeStep):
    """GPT3Mix sampling: each row plus k-1 other rows, shuffled, as one prompt's examples."""

    Params = ExamplesParams
    writes = ("examples",)

    def input_columns(self) -> set[str]:
        return {self.params.text_column, self.params.label_column}

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        held = [
            row
            async for row in rows
            if isinstance(row.get(p.text_column), str) and row.get(p.label_column) in p.labels
        ]
        for position, row in enumerate(held):
            others = held[:position] + held[position + 1 :]
            for j in range(p.per_row):
                rng = random.Random(ctx.seed(row[META]["id"], "examples", j))
                chosen = [row, *rng.sample(others, min(p.k - 1, len(others)))]
                rng.shuffle(chosen)
                examples = [
                    {"id": r[META]["id"], "text": r[p.text_column], "label": r[p.label_column]}
                    for r in chosen
                ]
                yield derive(
                    row, {"examples": examples}, step=self.name, method=self.method, index=j
                )


def soft_label(completion: Completion, words: dict[str, str]) -> dict[str, float] | None:
    """{label: p} from the first label token's top log-probabilities: each token that starts
    exactly one label word adds its probability to that label; normalised. None without
    log-probabilities or when no token matches."""
    tokens = completion.choices[0].logprobs if completion.choices else None
    if not tokens:
        return None
    mass = dict.fromkeys(words, 0.0)
    for entry in tokens[0].top_logprobs:
        piece = entry["token"].strip().lower()
        matches = [
            label for label, word in words.items() if piece and word.lower().startswith(piece)
        ]
        if len(matches) == 1:
            mass[matches[0]] += math.exp(entry["logprob"])
    total = sum(mass.values())
    return {label: round(m / total, 4) for label, m in mass.items()} if total > 0 else None


def vote_share(completion: Completion, words: dict[str, str]) -> dict[str, float] | None:
    """{label: share} of the sampled label words; None when no sample is a label word."""
    by_word = {word: label for label, word in words.items()}
    votes = [by_word.get(choice.text.strip()) for choice in completion.choices]
    counted = [v for v in votes if v is not None]
    if not counted:
        return None
    return {label: round(counted.count(label) / len(counted), 4) for label in words}


class MixParams(LabelParams):
    model_config = ConfigDict(extra="forbid")
    text_type: str = "news headline"
    label_type: str = "tone"
    label_words: dict[str, str] | None = None  # label -> word in the prompt; None: label_word()
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, ge=0, le=1)
    max_tokens: int = Field(48, ge=4)
    logprobs: bool = True  # soft label from log-probabilities; false: vote share
    samples: int = Field(5, ge=1, le=32)  # label samples for the vote share
    keep_rejected: bool = False


@register("gpt3mix.mix", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Mix(MapStep):
    """GPT3Mix: a new text from a prompt of k labelled examples, with a soft label."""

    Params = MixParams
    reads = ("examples",)
    writes = ("soft_label", "soft_label_source", "kept", "rejected_because")
    uses_llm = True

    def input_columns(self) -> set[str]:
        return {"examples"}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        p = self.params
        return input_columns | set(self.writes) | {p.text_column, p.label_column}

    def words(self) -> dict[str, str]:
        p = self.params
        return {label: (p.label_words or {}).get(label, label_word(label)) for label in p.labels}

    def prompt(self, examples: list[dict[str, Any]]) -> str:
        p, words = self.params, self.words()
        shown = [{"text": e["text"], "word": words.get(e["label"], e["label"])} for e in examples]
        return render(
            __file__,
            "gpt3mix_prompt.j2",
            text_type=p.text_type,
            label_type=p.label_type,
            label_words=list(words.values()),
            examples=shown,
        )

    def label_request(self, prompt: str, n: int, temperature: float, seed: int) -> ChatRequest:
        p = self.params
        words = list(self.words().values())
        grammar = "root ::= " + " | ".join(f'" {w}"' for w in words)
        return ChatRequest(
            prompt=f"{prompt} ({p.label_type.capitalize()}:",
            n=n,
            temperature=temperature,
            max_tokens=16,
            grammar=grammar,
            logprobs=p.logprobs and n == 1,
            top_logprobs=20 if p.logprobs and n == 1 else 0,
            seed=seed,
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, words = self.params, self.words()
        examples, row_id = row["examples"], row[META]["id"]
        llm = ctx.require_llm()
        prompt = self.prompt(examples)
        generate = ChatRequest(
            prompt=prompt,
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            stop=("\n", f"({p.label_type.capitalize()}:"),
            seed=ctx.seed(row_id, "mix"),
        )
        text = (await llm.complete(generate)).text.strip()
        requests = [generate]
        soft, source = None, None
        if text:
            with_text = f"{prompt} {text}"
            if p.logprobs:
                first = self.label_request(with_text, 1, 0.0, ctx.seed(row_id, "label"))
                requests.append(first)
                soft, source = soft_label(await llm.complete(first), words), "logprobs"
            if soft is None:
                votes = self.label_request(with_text, p.samples, 1.0, ctx.seed(row_id, "votes"))
                requests.append(votes)
                soft, source = vote_share(await llm.complete(votes), words), "votes"
        reason = None
        if not text:
            reason = "empty"
        elif any(normalized(text) == normalized(e["text"]) for e in examples):
            reason = "copied_example"
        elif soft is None:
            reason = "no_label"
        label = max(soft, key=soft.__getitem__) if soft else None
        fields = {
            p.text_column: text,
            p.label_column: label,
            "soft_label": soft,
            "soft_label_source": source if soft else None,
        }
        provenance = {"model": llm.backend.describe(), "request": [llm.key(r) for r in requests]}
        return [filtered(self, row, fields, reason, 0, p.keep_rejected, **provenance)]
