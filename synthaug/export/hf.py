"""``synthaug export FILE --format hf -o DIR``: a folder the Hub and ``datasets`` read.

``DIR/data/<split>-00000-of-00001.parquet`` holds the records (``_meta`` becomes
``source_id``, every other column is kept as it is) and ``DIR/README.md`` is the dataset card
of :mod:`synthaug.report.card`, whose ``configs`` name that split, so that
``datasets.load_dataset(DIR)`` loads it and ``huggingface-cli upload`` publishes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io.readers import read_records
from ..io.writers import AtomicWriter, write_text_atomic
from ..records import META
from ..report.card import CardOptions, check_card_target, render_card
from ..report.profile import profile


def hf_row(record: dict[str, Any]) -> dict[str, Any]:
    """The record for the Hub: ``source_id`` (``_meta.id``) first, ``_meta`` left out."""
    meta = record.get(META)
    head = {"source_id": meta.get("id")} if isinstance(meta, dict) else {}
    return {**head, **{k: v for k, v in record.items() if k != META}}


def export_hf(source: Path, folder: Path, options: CardOptions, force: bool = False) -> dict:
    """Write the data file and the card; returns the rows, columns and paths written."""
    card = folder / "README.md"
    check_card_target(card, force)
    pattern = f"data/{options.split}-*.parquet"
    data = folder / "data" / f"{options.split}-00000-of-00001.parquet"
    found = profile(source)  # reads (and checks) the whole input before anything is written
    columns: dict[str, None] = {}
    with AtomicWriter(data) as writer:
        for record in read_records(source):
            row = hf_row(record)
            columns.update(dict.fromkeys(row))
            writer.write(row)
    write_text_atomic(card, render_card(found, pattern, options))
    return {"rows": writer.count, "columns": list(columns), "data": data, "card": card}
