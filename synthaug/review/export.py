"""The merged dataset: every imported row with the human decision where there is one.

A reviewed row gets ``label`` (the human's), ``label_source`` "human", ``annotator``,
``annotated_at``, ``review_action`` and, after an edit, the edited text in the text column;
``llm_label`` keeps the LLM's label and ``label_confidence`` stays for audit. A rejected
row is dropped, or with ``keep_rejected`` kept with ``label`` null and ``review_action``
"reject". A row never reviewed keeps the LLM's label with ``label_source`` "llm". In dialogue
mode no label columns are added and a finished row gets ``messages`` (an unfinished one has
none). ``_meta`` (provenance) is kept unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..io.writers import AtomicWriter
from .store import ReviewStore


def merged_rows(
    store: ReviewStore, text_column: str, keep_rejected: bool = False, dialogue: bool = False
) -> Iterator[dict[str, Any]]:
    """The export's rows, in import order (``dialogue``: no label columns are added)."""
    for record, note in store.rows():
        row = dict(record)
        if not dialogue:
            row["llm_label"] = record.get("label")
        if note is None:
            row.update(label_source="llm", annotator=None, annotated_at=None, review_action=None)
            yield row
            continue
        if note["action"] == "reject" and not keep_rejected:
            continue
        if not dialogue:
            row["label"] = None if note["action"] == "reject" else note["label"]
        row.update(
            label_source="human",
            annotator=note["annotator"],
            annotated_at=note["annotated_at"],
            review_action=note["action"],
        )
        if note["text"] is not None:
            row[text_column] = note["text"]
        if note["messages"] is not None:
            row["messages"] = note["messages"]
        yield row


def export_review(
    store: ReviewStore,
    out: Path,
    text_column: str,
    keep_rejected: bool = False,
    dialogue: bool = False,
) -> Counter[str]:
    """Write the merged dataset to ``out`` atomically; returns counts by label source/action."""
    counts: Counter[str] = Counter()
    with AtomicWriter(out) as writer:
        for row in merged_rows(store, text_column, keep_rejected, dialogue):
            writer.write(row)
            counts[row["review_action"] or "llm"] += 1
    counts["written"] = writer.count
    return counts
