"""What the LLM reformation steps share: a labelled text set, the label set, similarity filters.

``augment.labelled`` reads a labelled text file (by default the built-in sarcasm headlines,
``synthaug/data/sarcasm_headlines.jsonl``) and yields its rows with the labels interleaved
(the first row of each label, then the second of each, ...), so ``--limit N`` gives a
balanced sample (or ``count``). ``label_as: gold`` renames the label column (for labeling
steps, whose own output is ``label``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib import resources
from itertools import chain, zip_longest
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import RowError, SourceStep, Step, StepContext
from ...io import count_records, read_records
from ...llm.types import object_schema
from ...quality.rouge import rouge_l
from ...records import derive, source_record
from ..common.rows import dropped
from ..registry import register

BUILTIN = "sarcasm_headlines"
DEFAULT_LABELS = ["sarcastic", "not_sarcastic"]
TAXONOMY = "augmentation / data reformation (LLM)"
STAGE = "classification data, any"


def builtin_path() -> str:
    return str(resources.files("synthaug") / "data" / f"{BUILTIN}.jsonl")


def interleaved(rows: list[dict[str, Any]], label_column: str) -> list[dict[str, Any]]:
    """``rows`` reordered round-robin over their labels (labels in order of first appearance)."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row.get(label_column), []).append(row)
    mixed = chain.from_iterable(zip_longest(*groups.values()))
    return [row for row in mixed if row is not None]


class LabelledParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # None: the built-in sarcasm headlines
    format: str = "auto"
    text_column: str = "text"
    label_column: str = "label"
    label_as: str | None = None  # rename the label column, e.g. gold; None: keep its name
    count: int | None = Field(None, ge=1)  # the first count rows, labels interleaved


@register(
    "augment.labelled",
    taxonomy="I/O",
    stage=STAGE,
    paper="Misra & Arora, News Headlines Dataset for Sarcasm Detection",
)
class Labelled(SourceStep):
    """Read a labelled text set (default: built-in sarcasm headlines), labels interleaved."""

    Params = LabelledParams
    seed_data: ClassVar[dict[str, str]] = {"path": f"{BUILTIN}.jsonl"}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        p = self.params
        return input_columns | {p.text_column, p.label_as or p.label_column}

    def _records(self) -> list[dict[str, Any]]:
        p = self.params
        path = p.path or builtin_path()
        rows = list(read_records(path, fmt=p.format, required=[p.text_column, p.label_column]))
        source = p.path or BUILTIN  # not the install path: ids must not depend on it
        records = [source_record(r, source=source, index=i) for i, r in enumerate(rows)]
        records = interleaved(records, p.label_column)[: p.count]
        if p.label_as:
            records = [renamed(r, p.label_column, p.label_as) for r in records]
        return records

    def expected_rows(self) -> int | None:
        total = count_records(self.params.path or builtin_path(), fmt=self.params.format)
        return min(total, self.params.count or total)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        for row in self._records():
            yield row


def renamed(row: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``row`` with column ``old`` called ``new``."""
    return {(new if k == old else k): v for k, v in row.items()}


class LabelParams(BaseModel):
    """The text and label columns and the label set of a labelled-data step."""

    model_config = ConfigDict(extra="forbid")
    text_column: str = "text"
    label_column: str = "label"
    labels: list[str] = Field(default_factory=lambda: list(DEFAULT_LABELS), min_length=2)

    @model_validator(mode="after")
    def _distinct(self) -> LabelParams:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        return self


def text_of(row: dict[str, Any], column: str) -> str:
    """The row's text; an ``empty_text`` row error when it is missing or blank."""
    text = row.get(column)
    if not isinstance(text, str) or not text.strip():
        raise RowError("empty_text", f"column {column!r} is empty")
    return text


def label_of(row: dict[str, Any], params: LabelParams) -> str:
    """The row's label; an ``unknown_label`` row error when it is not in ``params.labels``."""
    label = row.get(params.label_column)
    if label not in params.labels:
        raise RowError("unknown_label", f"label {label!r} is not one of {params.labels}")
    return label


def label_schema(labels: list[str]) -> dict[str, Any]:
    """A JSON object with one ``label``, one of ``labels``."""
    return object_schema({"label": {"type": "string", "enum": list(labels)}})


def label_word(label: str) -> str:
    """How a label reads in a prompt: ``not_sarcastic`` -> ``not sarcastic``."""
    return label.replace("_", " ")


_SPACES = re.compile(r"\s+")


def normalized(text: str) -> str:
    """Lowercase, single spaces, no surrounding punctuation: for identity checks."""
    return _SPACES.sub(" ", text.lower()).strip(" .!?\"'")


def first_line(text: str) -> str:
    """A reply's first non-blank line, without list markers, quotes or a ``Label:`` prefix."""
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*]|\d+[.)])\s+", "", line).strip()
        line = re.sub(r"^[A-Za-z ]{1,20}:\s+", "", line).strip().strip('"').strip()
        if line:
            return line
    return ""


# what a similarity-filtered rewrite records (see ``filtered``)
FILTER_COLUMNS = ("original_text", "similarity", "similarity_metric", "kept", "rejected_because")


class SimilarityParams(BaseModel):
    """Bounds on a new text's similarity to its source: close enough, but not a copy."""

    model_config = ConfigDict(extra="forbid")
    similarity: Literal["rouge_l", "embedding"] = "rouge_l"  # embedding: MiniLM cosine
    min_similarity: float = Field(0.3, ge=0, le=1)
    max_similarity: float = Field(0.9, ge=0, le=1)
    keep_rejected: bool = False  # True: rejected texts stay in the output, kept: false


def rejection(source: str, new: str, score: float, bounds: SimilarityParams) -> str | None:
    """Why ``new`` fails the bounds (``empty``, ``identical``, ``too_similar``,
    ``too_dissimilar``), or None when it is kept."""
    if not new.strip():
        return "empty"
    if normalized(new) == normalized(source):
        return "identical"
    if score > bounds.max_similarity:
        return "too_similar"
    if score < bounds.min_similarity:
        return "too_dissimilar"
    return None


def similarities(source: str, texts: list[str], how: str, ctx: StepContext) -> list[float]:
    """Each text's similarity to ``source``: ROUGE-L F1, or MiniLM cosine (``embedding``)."""
    if how == "rouge_l":
        return [round(rouge_l(text, source), 4) for text in texts]
    from ...llm.embeddings import embed_cached
    from ..common.embedders import EmbedderParams, make_embedder

    embedder, cache = make_embedder(EmbedderParams(), ctx)
    vectors = embed_cached(embedder, [source, *texts], cache)
    return [round(float(vectors[0] @ v), 4) for v in vectors[1:]]


def filtered(
    step: Step,
    row: dict[str, Any],
    fields: dict[str, Any],
    reason: str | None,
    index: Any,
    keep_rejected: bool,
    **provenance: Any,
) -> dict[str, Any]:
    """A new record with ``fields`` plus ``kept``/``rejected_because``; a rejected one is an
    error row of kind ``reason`` unless ``keep_rejected``."""
    fields = {**fields, "kept": reason is None, "rejected_because": reason}
    if reason is not None and not keep_rejected:
        return dropped(step, row, reason, f"rejected: {reason}", index, fields)
    return derive(row, fields, step=step.name, method=step.method, index=index, **provenance)
