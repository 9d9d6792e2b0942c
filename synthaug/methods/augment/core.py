"""CORE, counterfactual generation via retrieval and editing (Dixit et al., Findings of EMNLP
2022, "CORE: A Retrieve-then-Edit Framework for Counterfactual Data Generation",
arXiv 2210.04873).

CORE retrieves, for each training input, excerpts of a task-related corpus that stand in a
label-flipping relation to it (a bi-encoder trained contrastively on human counterfactuals),
then prompts GPT-3 with instructions and a few demonstrations to edit the input into a
counterfactual for the target label, conditioned on the retrieved excerpts.

``core.retrieve`` (no model) stands in for the trained retriever with Okapi BM25
(``core_bm25``; k1 = 1.5, b = 0.75): for each row and each target label (every label but
the row's) it ranks the corpus by BM25 against the row's text and keeps the ``k`` best
excerpts; with a labelled corpus only excerpts of the target label are candidates (the
label-flipping relation, made explicit instead of learnt). The corpus is a column of a
file (``corpus_path``, ``corpus_column``, ``corpus_label_column``) or, by default, the
other rows of the input; a row never retrieves itself or its own text. It writes
``target_label`` and ``retrieved`` (``[{id, text, label, score}]``, best first).

``core.counterfactuals`` prompts the model with CORE's structure: the instruction, the
``demonstrations`` (original, label, excerpts, target, edit) as earlier chat turns, then
the row with its retrieved excerpts; the reply's first line is the counterfactual.
Records: ``text`` (the counterfactual), ``label`` (the target), ``original_text``,
``original_label``, ``target_label``, ``retrieved`` (ids, texts and scores), ``kept`` and
``rejected_because``; an empty reply or a copy of the input is an error row (``empty``,
``identical``) unless ``keep_rejected``. CORE itself filters nothing.

BM25 matches words, not the flipped meaning the paper's retriever learns, so excerpts are
topically close at best.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext, WholeStep
from ...io import read_records
from ...llm.types import chat
from ...records import META, derive, record_id
from ..registry import register
from ..templates import render
from .core_bm25 import BM25
from .labelled import STAGE, LabelParams, filtered, first_line, label_word, normalized, text_of

PAPER = "Dixit et al., 2022, CORE: retrieve-then-edit counterfactuals (arXiv 2210.04873)"
TAXONOMY = "augmentation / data reformation (counterfactuals, retrieval-augmented)"
DEMONSTRATIONS = [
    {
        "text": "city council approves budget for new bus lanes",
        "label": "not_sarcastic",
        "excerpts": ["nation's commuters thrilled to spend another decade stuck in traffic"],
        "target": "sarcastic",
        "edit": "city council heroically approves budget for bus lanes nobody will ever see",
    },
    {
        "text": "area man thrilled to spend entire weekend assembling furniture",
        "label": "sarcastic",
        "excerpts": ["how to assemble flat-pack furniture in one afternoon"],
        "target": "not_sarcastic",
        "edit": "man spends weekend assembling flat-pack furniture",
    },
]


class RetrieveParams(LabelParams):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(3, ge=1, le=20)  # excerpts per row and target (ours; the paper gives none)
    corpus_path: str | None = None  # None: the other rows of the input
    corpus_format: str = "auto"
    corpus_column: str = "text"
    corpus_label_column: str | None = "label"  # None: an unlabelled corpus, no label filter
    k1: float = Field(1.5, gt=0)
    b: float = Field(0.75, ge=0, le=1)


@register("core.retrieve", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Retrieve(WholeStep):
    """CORE retrieval, BM25 stand-in: per row and target label, the k best corpus excerpts."""

    Params = RetrieveParams
    writes = ("target_label", "retrieved")

    def input_columns(self) -> set[str]:
        return {self.params.text_column, self.params.label_column}

    def corpus(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``{id, text, label}`` of each corpus excerpt."""
        p = self.params
        if p.corpus_path is None:
            source = [
                (r[META]["id"], r.get(p.corpus_column), r.get(p.corpus_label_column or ""))
                for r in rows
            ]
        else:
            records = read_records(p.corpus_path, fmt=p.corpus_format, required=[p.corpus_column])
            source = [
                (
                    record_id(p.corpus_path, i),
                    r[p.corpus_column],
                    r.get(p.corpus_label_column or ""),
                )
                for i, r in enumerate(records)
            ]
        return [
            {"id": i, "text": t, "label": label if p.corpus_label_column else None}
            for i, t, label in source
            if isinstance(t, str) and t.strip()
        ]

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        held = [row async for row in rows]
        corpus = self.corpus(held)
        index = BM25([c["text"] for c in corpus], k1=p.k1, b=p.b)
        for row in held:
            text, label = row.get(p.text_column), row.get(p.label_column)
            if not isinstance(text, str) or label not in p.labels:
                continue  # core.counterfactuals reports these rows
            for n, target in enumerate(t for t in p.labels if t != label):
                allowed = {
                    i
                    for i, c in enumerate(corpus)
                    if c["id"] != row[META]["id"]
                    and normalized(c["text"]) != normalized(text)
                    and (c["label"] is None or c["label"] == target)
                }
                retrieved = [
                    {**corpus[i], "score": round(score, 4)}
                    for i, score in index.top(text, p.k, allowed)
                ]
                fields = {"target_label": target, "retrieved": retrieved}
                yield derive(row, fields, step=self.name, method=self.method, index=n)


class Demonstration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    label: str = Field(min_length=1)
    excerpts: list[str]
    target: str = Field(min_length=1)
    edit: str = Field(min_length=1)


class EditParams(LabelParams):
    model_config = ConfigDict(extra="forbid")
    kind: str = "news headline"
    demonstrations: list[Demonstration] = Field(
        default_factory=lambda: [Demonstration(**d) for d in DEMONSTRATIONS]
    )
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(48, ge=4)
    keep_rejected: bool = False


@register("core.counterfactuals", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Counterfactuals(MapStep):
    """CORE editing: few-shot prompt to edit the text toward the target label, excerpts in the prompt."""

    Params = EditParams
    reads = ("target_label", "retrieved")
    writes = ("original_text", "original_label", "kept", "rejected_because")
    uses_llm = True

    def input_columns(self) -> set[str]:
        return {self.params.text_column, self.params.label_column, *self.reads}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | set(self.writes)

    def prompt(self, text: str, label: str, excerpts: list[str], target: str) -> str:
        return render(
            __file__,
            "core_edit.j2",
            kind=self.params.kind,
            text=text,
            label=label_word(label),
            excerpts=excerpts,
            target=label_word(target),
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        text, target = text_of(row, p.text_column), row["target_label"]
        label = row[p.label_column]
        turns: list[tuple[Any, str]] = []
        for shot in p.demonstrations:
            turns += [
                ("user", self.prompt(shot.text, shot.label, shot.excerpts, shot.target)),
                ("assistant", shot.edit),
            ]
        excerpts = [r["text"] for r in row["retrieved"]]
        request = chat(
            *turns,
            ("user", self.prompt(text, label, excerpts, target)),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], "edit"),
        )
        llm = ctx.require_llm()
        edit = first_line((await llm.complete(request)).text)
        reason = (
            "empty" if not edit else "identical" if normalized(edit) == normalized(text) else None
        )
        fields = {
            p.text_column: edit,
            p.label_column: target,
            "original_text": text,
            "original_label": label,
        }
        provenance = {"model": llm.backend.describe(), "request": [llm.key(request)]}
        return [filtered(self, row, fields, reason, 0, p.keep_rejected, **provenance)]
