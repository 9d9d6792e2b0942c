"""LLM2LLM (Lee et al., 2024, "LLM2LLM: Boosting LLMs with Novel Iterative Data Enhancement",
arXiv 2403.15042; code: SqueezeAILab/LLM2LLM).

The paper's loop, for a student and a teacher: train the student on the data D (starting
from the seed set, the base student each time), evaluate it on D, collect the *seed*
examples it gets wrong, have the teacher write new examples from each of them, add those
to D, and repeat. Generated examples that the student gets wrong are never sent to the
teacher again (the authors' ``filter.py`` keeps only answers to seed questions), so errors do
not compound. Authors' defaults (GSM8K ``config.yaml`` and ``generate_data.py``): 10 steps,
1 new example per wrong seed, temperature 1.0, top-p 1.0, a system prompt plus a one-shot
example turn; a reply is split on ``N. Question:``; a new example whose ROUGE-L to any
existing one (seed or generated) exceeds 0.95 is dropped (here also a copy of the one-shot
example's texts), and the teacher is asked again
(for ``min(per_seed + attempt, 10)`` examples, on odd attempts after a turn listing those
kept so far and "now generate N more different from the ones you just generated") until
``per_seed`` are kept.

``llm2llm.iterate`` does this for classification data with the classifier student
(``synthaug.students``: sentence embeddings + logistic regression), the recipe's backend as
the teacher. It sees every row first (the seed set), then runs ``iterations`` rounds; the
student is trained once more at the end, so ``iterations + 1`` students are scored, each
on a held-out set: ``test_path`` (default: the built-in sarcasm headlines) minus the
training texts, ``test_count`` rows drawn stratified by label (seeded by the run seed).
Output: the seed rows (``llm2llm_iteration`` 0, ``llm2llm_parent`` null) and every new row
(``llm2llm_iteration`` = the round that made it, ``llm2llm_parent`` = the wrong seed's id,
which is also its ``_meta`` parent; the seed's label). One line per student goes to stderr
(train and held-out accuracy, wrong seeds, new rows) and, with ``report_path``, a JSON file.

Differences from the authors': the task is classification, so the prompts ask for a new
text with the seed's label (reply form ``N. Headline: ...`` / ``Label: ...``; a reply
naming another label is dropped) and the one-shot example is ours (``example``); the
teacher is asked at most ``max_attempts`` times per wrong seed (the authors loop until
enough are kept); the student is a linear probe, not a fine-tuned LLM. A rerun replays the
teacher from the request cache and retrains the deterministic student, so it writes the
same records.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import StepContext, WholeStep
from ...hashing import derive_seed
from ...io import read_records
from ...io.writers import write_text_atomic
from ...llm.client import LLMClient, LLMError
from ...llm.types import ChatRequest
from ...quality.rouge import rouge_l
from ...records import META, derive
from ...students import ClassifierStudent, TrainedClassifier
from ..common.embedders import EmbedderParams, make_embedder
from ..registry import register
from ..templates import render

PAPER = "Lee et al., 2024, LLM2LLM: Boosting LLMs with Novel Iterative Data Enhancement (arXiv 2403.15042)"
TAXONOMY = "synthesis / general model distillation (targeted at the student's errors, iterated)"
STAGE = "task-specific fine-tuning (classification data, iterative)"
BUILTIN_TEST = "sarcasm_headlines.jsonl"
MAX_ASK = 10  # the authors ask for at most 10 examples per request


class Example(BaseModel):
    """The one-shot turn: a seed, its label and a new text the teacher might write."""

    model_config = ConfigDict(extra="forbid")
    text: str
    label: str
    new: str


SARCASM_EXAMPLE = Example(  # written for synthaug
    text="local man heroically finishes entire to-do list, immediately writes new one",
    label="sarcastic",
    new="area woman celebrates cleaning out garage by buying more boxes to fill it",
)


class IterateParams(EmbedderParams):
    model_config = ConfigDict(extra="forbid")
    iterations: int = Field(10, ge=1)  # rounds of augmentation (authors' GSM8K config: 10)
    per_seed: int = Field(1, ge=1, le=MAX_ASK)  # new examples per wrong seed (authors: 1)
    max_attempts: int = Field(4, ge=1)  # requests per wrong seed (authors: until enough)
    rouge_threshold: float = Field(0.95, ge=0, le=1)  # authors' ROUGE-L dedup threshold
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, ge=0, le=1)
    max_tokens: int = Field(128, ge=8)
    text_column: str = "text"
    label_column: str = "label"
    kind: str = "news headline"  # what a text is, for the prompts
    field: str = "Headline"  # the reply's field name (authors: Question)
    example: Example | None = SARCASM_EXAMPLE  # the one-shot turn; None: none
    test_path: str | None = None  # held-out records; None: the built-in sarcasm headlines
    test_count: int = Field(500, ge=2)
    c: float = Field(1.0, gt=0)  # the student's inverse regularisation
    report_path: str | None = None  # per-iteration metrics as JSON
    seeds_in_flight: int | None = Field(None, ge=1)  # None: the backend's concurrency


@register("llm2llm.iterate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Iterate(WholeStep):
    """LLM2LLM: retrain the student, send the seeds it gets wrong to the teacher, repeat."""

    Params = IterateParams
    reads = ("text", "label")
    writes = ("llm2llm_iteration", "llm2llm_parent")
    uses_llm = True
    seed_data: ClassVar[dict[str, str]] = {"test_path": BUILTIN_TEST}

    def input_columns(self) -> set[str]:
        return {self.params.text_column, self.params.label_column}

    def held_out(self, training: set[str], ctx: StepContext) -> list[dict[str, Any]]:
        """``test_count`` test records not among the training texts, stratified by label."""
        p = self.params
        path = p.test_path or str(resources.files("synthaug") / "data" / BUILTIN_TEST)
        by_label: dict[str, list[dict[str, Any]]] = {}
        for row in read_records(path, required=[p.text_column, p.label_column]):
            if row[p.text_column] not in training:
                by_label.setdefault(str(row[p.label_column]), []).append(row)
        rng = random.Random(derive_seed(ctx.run_seed, self.name, "test"))
        share, test = p.test_count // max(len(by_label), 1), []
        for label in sorted(by_label):
            rows = by_label[label]
            test += rng.sample(rows, min(share, len(rows)))
        return test

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        seeds = [{**row, "llm2llm_iteration": 0, "llm2llm_parent": None} async for row in rows]
        for row in seeds:
            yield row
        embedder, cache = make_embedder(p, ctx)
        student = ClassifierStudent(embedder, cache, p.text_column, p.label_column, p.c)
        test = await asyncio.to_thread(self.held_out, {r[p.text_column] for r in seeds}, ctx)
        client = ctx.require_llm()
        slots = asyncio.Semaphore(p.seeds_in_flight or client.backend.max_concurrency)
        data, report = list(seeds), []
        for iteration in range(p.iterations + 1):
            model = await asyncio.to_thread(student.train, data, ctx.run_seed)
            wrong = self.wrong_seeds(model, seeds)
            line = self.scores(model, data, test, iteration, len(wrong))
            if iteration < p.iterations:
                existing = [r[p.text_column] for r in data]

                async def one(seed, iteration=iteration + 1, existing=existing):
                    async with slots:
                        return await self.generate(seed, iteration, existing, client, ctx)

                made = [r for batch in await asyncio.gather(*map(one, wrong)) for r in batch]
                line["new_rows"] = len(made)
                for row in made:
                    yield row
                data += made
            report.append(line)
            print(self.describe(line), file=sys.stderr, flush=True)
        if p.report_path:
            write_text_atomic(p.report_path, json.dumps(report, indent=2) + "\n")

    def wrong_seeds(
        self, model: TrainedClassifier, seeds: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The seed rows the student labels wrongly (generated rows never count)."""
        predicted = model.predict(seeds)
        label = self.params.label_column
        return [
            row for row, guess in zip(seeds, predicted, strict=True) if guess != str(row[label])
        ]

    def scores(
        self,
        model: TrainedClassifier,
        data: list[dict[str, Any]],
        test: list[dict[str, Any]],
        iteration: int,
        wrong: int,
    ) -> dict[str, Any]:
        held_out = model.evaluate(test)
        return {
            "iteration": iteration,
            "train_rows": len(data),
            "train_accuracy": model.evaluate(data).accuracy,
            "wrong_seeds": wrong,
            "test_accuracy": held_out.accuracy,
            "test_macro_f1": held_out.macro_f1,
            "test_rows": held_out.count,
        }

    def describe(self, line: dict[str, Any]) -> str:
        new = f", {line['new_rows']} new rows" if "new_rows" in line else ""
        return (
            f"{self.name}: iteration {line['iteration']}: {line['train_rows']} train rows, "
            f"train accuracy {line['train_accuracy']:.3f}, {line['wrong_seeds']} wrong seeds"
            f"{new}; held-out accuracy {line['test_accuracy']:.3f} "
            f"(macro-F1 {line['test_macro_f1']:.3f}, {line['test_rows']} rows)"
        )

    def request(
        self, seed: dict[str, Any], iteration: int, attempt: int, kept: list[str], ctx: StepContext
    ) -> ChatRequest:
        """Attempt ``attempt`` for a wrong seed: the authors' prompt, asking for
        ``min(per_seed + attempt, 10)`` examples; odd attempts first list those kept so far."""
        p = self.params
        text, label = seed[p.text_column], seed[p.label_column]
        words = {"kind": p.kind, "field": p.field}
        count = min(p.per_seed + attempt, MAX_ASK)
        turns = [("system", render(__file__, "llm2llm_system.j2", **words))]
        if p.example is not None:
            ex = p.example
            turns += [
                (
                    "user",
                    render(
                        __file__,
                        "llm2llm_request.j2",
                        text=ex.text,
                        label=ex.label,
                        count=1,
                        **words,
                    ),
                ),
                (
                    "assistant",
                    render(__file__, "llm2llm_example.j2", text=ex.new, label=ex.label, **words),
                ),
            ]
        if attempt % 2 == 1 and kept:
            turns += [
                (
                    "user",
                    render(
                        __file__,
                        "llm2llm_request.j2",
                        text=text,
                        label=label,
                        count=len(kept),
                        **words,
                    ),
                ),
                (
                    "assistant",
                    render(__file__, "llm2llm_repeat.j2", kept=kept, label=label, **words),
                ),
                ("user", render(__file__, "llm2llm_more.j2", count=count, **words)),
            ]
        else:
            turns.append(
                (
                    "user",
                    render(
                        __file__, "llm2llm_request.j2", text=text, label=label, count=count, **words
                    ),
                )
            )
        return ChatRequest(
            messages=tuple({"role": role, "content": content} for role, content in turns),
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            seed=ctx.seed(seed[META]["id"], iteration, attempt),
        )

    def parse(self, reply: str, truncated: bool, label: str) -> list[str]:
        """The new texts of a reply: split on ``N. <field>:``; an item needs the seed's label
        when it names one; a truncated reply's last item is dropped (as the authors do)."""
        items = re.split(rf"\d{{1,2}}\.\s*{re.escape(self.params.field)}\s*:", reply)[1:]
        if truncated and items:
            items = items[:-1]
        texts = []
        for item in items:
            text, _, rest = item.partition("Label:")
            text = text.strip().splitlines()[0].strip().strip('"') if text.strip() else ""
            named = rest.strip().splitlines()[0].strip().strip(".").lower() if rest.strip() else ""
            if text and (not named or named.replace(" ", "_") == str(label).lower()):
                texts.append(text)
        return texts

    async def generate(
        self,
        seed: dict[str, Any],
        iteration: int,
        existing: list[str],
        client: LLMClient,
        ctx: StepContext,
    ) -> list[dict[str, Any]]:
        """Up to ``per_seed`` new rows from one wrong seed (fewer when attempts run out)."""
        p = self.params
        label = seed[p.label_column]
        kept: list[str] = []
        records: list[dict[str, Any]] = []
        shown = [p.example.text, p.example.new] if p.example else []  # no copies of the example
        for attempt in range(p.max_attempts):
            request = self.request(seed, iteration, attempt, kept, ctx)
            try:
                choice = (await client.complete(request)).choices[0]
            except LLMError:
                continue  # this attempt yields nothing; the next one asks again
            for text in self.parse(choice.text, choice.finish_reason == "length", label):
                if (
                    max((rouge_l(text, old) for old in (*existing, *shown, *kept)), default=0.0)
                    > p.rouge_threshold
                ):
                    continue
                kept.append(text)
                fields = {
                    p.text_column: text,
                    p.label_column: label,
                    "llm2llm_iteration": iteration,
                    "llm2llm_parent": seed[META]["id"],
                }
                records.append(
                    derive(
                        seed,
                        fields,
                        step=self.name,
                        method=self.method,
                        index=f"{iteration}-{len(kept)}",
                        model=client.backend.describe(),
                        request=[client.key(request)],
                        seed=request.seed,
                    )
                )
                if len(kept) == p.per_seed:
                    return records
        return records
