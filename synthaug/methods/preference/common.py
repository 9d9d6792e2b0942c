"""What the preference steps share: the pair columns and records, per-completion labels."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, Completion
from ...records import META, derive
from ..common.rows import dropped

PAIR_COLUMNS = (
    "chosen",
    "rejected",
    "chosen_score",
    "rejected_score",
    "chosen_model",
    "rejected_model",
    "pair_method",
)
INDEX_COLUMNS = ("chosen_index", "rejected_index")


def prompt_text(row: dict[str, Any], column: str) -> str:
    """The row's prompt; an ``empty_prompt`` row error when it is missing or blank."""
    prompt = row.get(column)
    if not isinstance(prompt, str) or not prompt.strip():
        raise RowError("empty_prompt", f"column {column!r} is empty")
    return prompt


def without(row: dict[str, Any], *columns: str) -> dict[str, Any]:
    """``row`` minus ``columns`` (a pair record's parent drops the lists it was built from)."""
    return {k: v for k, v in row.items() if k not in columns}


def scored(completions: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """(index, score) of the completions that have a numeric ``key``."""
    return [
        (i, c[key])
        for i, c in enumerate(completions)
        if isinstance(c.get(key), int | float) and not isinstance(c.get(key), bool)
    ]


def pair_fields(
    chosen: dict[str, Any], rejected: dict[str, Any], score: str | None
) -> dict[str, Any]:
    """The chosen/rejected response, score and model columns of a pair of completions."""
    return {
        "chosen": chosen["response"],
        "rejected": rejected["response"],
        "chosen_score": chosen.get(score) if score else None,
        "rejected_score": rejected.get(score) if score else None,
        "chosen_model": chosen.get("model"),
        "rejected_model": rejected.get("model"),
    }


def completion_pairs(
    step: MapStep,
    row: dict[str, Any],
    pairs: Iterable[tuple[int, int]],
    score: str | None,
    extra: Callable[[int, int], dict[str, Any]] = lambda a, b: {},
    drop: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """One record per (chosen, rejected) index pair of the row's completions; the parent
    drops the completions, comparisons and ``drop`` columns."""
    completions = row["completions"]
    parent = without(row, "completions", "comparisons", *drop)
    return [
        derive(
            parent,
            {
                **pair_fields(completions[a], completions[b], score),
                "pair_method": step.method,
                "chosen_index": a,
                "rejected_index": b,
                **extra(a, b),
            },
            step=step.name,
            method=step.method,
            index=k,
        )
        for k, (a, b) in enumerate(pairs)
    ]


class FromCompletions(MapStep):
    """A step over a row's prompt (``params.prompt_column``) and ``completions`` whose records
    carry ``writes`` instead of the completions list."""

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column, "completions"}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"completions"}) | set(self.writes)


def response_texts(row: dict[str, Any], response_column: str) -> list[str]:
    """What a labelling step rates: each completion's response, or the row's own response."""
    completions = row.get("completions")
    if completions:
        return [str(c["response"]) for c in completions]
    response = row.get(response_column)
    return [str(response)] if isinstance(response, str) and response.strip() else []


def labelled(row: dict[str, Any], key: str, labels: list[Any]) -> dict[str, Any]:
    """The fields that store ``labels`` under ``key``: inside each completion (the list's
    order kept), or as a row column when the row has no completions."""
    completions = row.get("completions")
    if completions:
        return {"completions": [{**c, key: x} for c, x in zip(completions, labels, strict=True)]}
    return {key: labels[0]}


class ResponseLabeler(MapStep):
    """A judge step that labels each response of a row with one call: ``request(prompt,
    response, seed)``, ``parse_label(reply text)`` (None: unparseable; override
    ``read_label`` to read the whole completion, e.g. its log-probabilities) stored under
    ``label_key``.
    Its params name ``prompt_column``, ``response_column`` and ``judge``."""

    uses_llm = True
    backend_params = ("judge",)
    label_key: ClassVar[str]
    seed_tag: ClassVar[str]

    @abstractmethod
    def request(self, prompt: str, response: str, seed: int) -> ChatRequest:
        """The judge request for one response."""

    @abstractmethod
    def parse_label(self, text: str) -> Any | None:
        """The label in a judge reply, or None when it is not a complete label."""

    def read_label(self, reply: Completion) -> Any | None:
        """The label of a judge completion (by default ``parse_label`` of its text)."""
        return self.parse_label(reply.text)

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | (set() if "completions" in input_columns else {self.label_key})

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, key = self.params, self.label_key
        responses = response_texts(row, p.response_column)
        if not responses:
            message = f"the row has no completions and no {p.response_column!r}"
            return [dropped(self, row, "no_response", message, "none")]
        judge = ctx.require_llm(p.judge)
        prompt = str(row[p.prompt_column])
        requests = [
            self.request(prompt, response, ctx.seed(row[META]["id"], self.seed_tag, i))
            for i, response in enumerate(responses)
        ]
        replies = await asyncio.gather(*(judge.complete(r) for r in requests))
        labels = []
        for i, reply in enumerate(replies):
            label = self.read_label(reply)
            if label is None:
                message = f"the {key} reply for response {i} is not a complete label"
                fields = {f"{key}_reply": reply.text}
                return [dropped(self, row, f"unparseable_{key}", message, i, fields)]
            labels.append(label)
        return [self.derived(row, labelled(row, key, labels), ctx, requests, llm=judge)]
