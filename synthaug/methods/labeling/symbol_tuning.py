"""``symbol_tuning.remap``: symbol-tuning data (Wei et al., 2023, EMNLP, arXiv 2305.08298).
Deterministic given the run seed; no model call.

Symbol tuning fine-tunes on few-shot classification prompts with the task instruction removed
and each natural-language label replaced by an arbitrary symbol, so the model has to learn the
input-label mapping from the exemplars. The paper draws symbols from a pool of about 30K of
three kinds: integers, random character combinations and words. The pool here has 22,851
distinct symbols: the integers 0-9,999, 10,000 random letter strings of 2-5 characters (drawn
once with a fixed seed) and the 2,940 Dale-Chall words shipped in ``synthaug/data`` (less the
words the strings already hold); a symbol that spells one of the task's labels is never used.

Every labelled row becomes one query: ``exemplars_per_class`` other rows of each label of its
task (``task_column``; one task without it), shuffled, each written ``Input: text`` /
``Output: symbol``, then the query with an empty ``Output:``. ``remap: per_prompt`` (the
paper's) draws a fresh label -> symbol mapping for every prompt, ``per_task`` one for the whole
task. Written: ``prompt`` (no instruction), ``target_symbol`` (also ``response``, for
``synthaug export --format sft``), ``symbol_map`` ({label: symbol}) and ``source_task``. Rows
without text or label are error rows, ``unlabelled``; a task with fewer than two labels,
``single_label_task``. The paper tunes Flan-PaLM on 22 tasks and mixes in some ordinary
instruction data against forgetting; that mixing is left to the user.
"""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import StepContext, WholeStep
from ...records import META, derive
from ..common.rows import dropped
from ..registry import register

PAPER = "Wei et al., 2023, Symbol tuning improves in-context learning (arXiv 2305.08298)"
TAXONOMY = "augmentation / data labeling (label remapping)"
STAGE = "instruction tuning (in-context learning)"
POOL_SEED = 0


@cache
def symbol_pool() -> tuple[str, ...]:
    """Integers, random letter strings and words: the arbitrary symbols, fixed for all runs."""
    integers = [str(i) for i in range(10_000)]
    rng, letters = random.Random(POOL_SEED), string.ascii_lowercase
    strings: dict[str, None] = {}
    while len(strings) < 10_000:
        strings["".join(rng.choices(letters, k=rng.randint(2, 5)))] = None
    words_file = resources.files("synthaug") / "data" / "dale_chall_easy_words.txt"
    words = [w.strip() for w in words_file.read_text(encoding="utf-8").splitlines() if w.strip()]
    return tuple(dict.fromkeys([*integers, *strings, *words]))


def draw_mapping(labels: list[str], rng: random.Random) -> dict[str, str]:
    """A label -> symbol mapping: distinct symbols, none spelling one of ``labels``."""
    taken = {label.lower() for label in labels}
    pool, mapping = symbol_pool(), {}
    while len(mapping) < len(labels):
        symbol = rng.choice(pool)
        if symbol.lower() not in taken:
            taken.add(symbol.lower())
            mapping[labels[len(mapping)]] = symbol
    return mapping


def symbol_prompt(exemplars: list[tuple[str, str]], query: str) -> str:
    """Exemplars as ``Input:``/``Output:`` pairs, then the query; no instruction."""
    shots = [f"Input: {text}\nOutput: {symbol}" for text, symbol in exemplars]
    return "\n\n".join([*shots, f"Input: {query}\nOutput:"])


class RemapParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "text"
    label_column: str = "label"
    task_column: str | None = None  # None: all rows are one task, named ``task``
    task: str = "task"
    # the paper varies the exemplar count (a few per class)
    exemplars_per_class: int = Field(2, ge=1, le=32)
    remap: Literal["per_prompt", "per_task"] = "per_prompt"  # the paper: per prompt


@register("symbol_tuning.remap", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Remap(WholeStep):
    """Symbol tuning: few-shot prompts with labels remapped to arbitrary symbols, no instruction."""

    Params = RemapParams
    writes = ("prompt", "response", "target_symbol", "symbol_map", "source_task")

    def input_columns(self) -> set[str]:
        return {self.params.text_column, self.params.label_column}

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        tasks: dict[str, list[dict[str, Any]]] = {}
        async for row in rows:
            text, label = row.get(p.text_column), row.get(p.label_column)
            if not isinstance(text, str) or not text.strip() or label is None:
                yield dropped(self, row, "unlabelled", "no text or label", 0)
                continue
            task = str(row.get(p.task_column) or p.task) if p.task_column else p.task
            tasks.setdefault(task, []).append(row)
        for task, members in tasks.items():
            for row in self.task_prompts(task, members, ctx):
                yield row

    def task_prompts(
        self, task: str, members: list[dict[str, Any]], ctx: StepContext
    ) -> list[dict[str, Any]]:
        """One symbol-tuning row per member of ``task``."""
        p = self.params
        by_label: dict[str, list[dict[str, Any]]] = {}
        for row in members:
            by_label.setdefault(str(row[p.label_column]), []).append(row)
        labels = list(by_label)
        if len(labels) < 2:
            message = f"task {task!r} has one label ({labels[0]!r}); symbol tuning needs two"
            return [dropped(self, row, "single_label_task", message, 0) for row in members]
        task_mapping = draw_mapping(labels, random.Random(ctx.seed("map", task)))
        out = []
        for row in members:
            rng = random.Random(ctx.seed("prompt", task, row[META]["id"]))
            mapping = task_mapping if p.remap == "per_task" else draw_mapping(labels, rng)
            shots = []
            for label in labels:
                others = [r for r in by_label[label] if r is not row]
                shots += rng.sample(others, min(p.exemplars_per_class, len(others)))
            rng.shuffle(shots)
            exemplars = [(r[p.text_column], mapping[str(r[p.label_column])]) for r in shots]
            target = mapping[str(row[p.label_column])]
            fields = {
                "prompt": symbol_prompt(exemplars, row[p.text_column]),
                "response": target,
                "target_symbol": target,
                "symbol_map": mapping,
                "source_task": task,
            }
            out.append(derive(row, fields, step=self.name, method=self.method))
        return out
