"""``synthaug export FILE --format F -o OUT``: records to a trainer's dataset file, or
(``--format hf``) to a Hugging Face dataset folder with its card (:mod:`synthaug.export.hf`).

Reads any record file (JSONL, JSON, CSV, Parquet, ``datasets`` folder), writes JSONL or
Parquet atomically (the output appears complete or not at all) and prints the counts. The
shapes are in :mod:`synthaug.export.formats`; a row that lacks what the format needs stops
the export with one line naming the file, the line and the column (exit code 2).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..commands import command
from ..io.readers import read_numbered
from ..io.writers import AtomicWriter
from ..report.command import add_card_options, card_options
from .formats import CHAT_FORMATS, FORMATS, ExportOptions, convert_all
from .hf import export_hf
from .multimodal import IMAGE_FORMATS, export_hf_images, export_llava

HF = "hf"  # a Hugging Face dataset folder: data/ + README.md card

EPILOG = "Bad input exits with code 2 and writes nothing."


def export_file(source: Path, out: Path, options: ExportOptions) -> dict[str, Any]:
    """Export ``source`` to ``out``; returns the counts (rows in, records out, rows skipped
    for making no pair, labels, columns)."""
    rows_in, skipped, labels, columns = 0, 0, Counter(), {}

    def counted() -> Iterator[tuple[int, dict[str, Any]]]:
        nonlocal rows_in
        for item in read_numbered(source):
            rows_in += 1
            yield item

    with AtomicWriter(out) as writer:
        for records in convert_all(str(source), counted(), options):
            skipped += not records
            for record in records:
                writer.write(record)
                columns.update(dict.fromkeys(record))
                if "label" in record:
                    labels[record["label"]] += 1
    return {
        "rows_in": rows_in,
        "records_out": writer.count,
        "unpaired": skipped,
        "desirable": labels[True],
        "undesirable": labels[False],
        "columns": list(columns),
    }


def cmd_export(args: argparse.Namespace) -> int:
    if args.format in IMAGE_FORMATS:
        write = export_llava if args.format == "llava" else export_hf_images
        count = write(args.file, args.out)
        print(f"export: {count:,} {args.format} items of {args.file} -> {args.out}")
        return 0
    if args.format == HF:
        done = export_hf(args.file, args.out, card_options(args), force=args.force)
        print(f"export: {done['rows']:,} rows of {args.file} -> {done['data']} and the card "
              f"{done['card']}")  # fmt: skip
        print(f"  columns: {', '.join(done['columns'])}")
        return 0
    options = ExportOptions(
        format=args.format,
        conversational=args.conversational,
        prompt_column=args.prompt_column,
        response_column=args.response_column,
        system_column=args.system_column,
        input_column=args.input_column,
        keep_extra=not args.drop_extra,
    )
    counts = export_file(args.file, args.out, options)
    chat = args.conversational or args.format in CHAT_FORMATS
    style = "conversational" if chat else "plain"
    print(f"export: {counts['rows_in']:,} rows of {args.file} -> {counts['records_out']:,} "
          f"{args.format} records ({style}) in {args.out}")  # fmt: skip
    if counts["unpaired"]:
        print(
            f"  skipped: {counts['unpaired']:,} rows that made no pair (chosen and rejected null)"
        )
    if args.format == "kto":
        print(f"  desirable: {counts['desirable']:,}  undesirable: {counts['undesirable']:,}")
    print(f"  columns: {', '.join(counts['columns'])}")
    return 0


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "export",
        help="write records as a trainer's dataset: sft, dpo, orpo, kto, rm (TRL formats), "
        "openai (OpenAI's chat fine-tuning JSONL with tools), a Hugging Face dataset folder with its card (hf), or image data: llava, hf-images",
        description="Write records in the dataset format a trainer reads (TRL's column names): "
        "sft {messages}; dpo/orpo {prompt, chosen, rejected}; kto {prompt, completion, label}, "
        "a pair giving a chosen (true) and a rejected (false) row; rm {chosen, rejected} with "
        "the prompt inside both; openai {messages, tools}: OpenAI's chat fine-tuning form, "
        "function calling included (tools a list, call arguments JSON strings, tool turns "
        "with tool_call_id; no other columns). Scalar columns (ratings, models) stay as extra columns and "
        "_meta becomes source_id. hf: -o names a folder that gets data/SPLIT-*.parquet (every "
        "column, _meta as source_id) and a README.md dataset card (see synthaug card) that "
        "datasets.load_dataset(folder) reads. Records with an image: llava writes LLaVA's JSON "
        "list {id, image, conversations} (image paths relative to the output); hf-images a "
        "folder whose data/ parquet has messages with image parts and an images column of "
        "datasets.Image.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "file", type=Path, help="data file (JSONL, JSON, CSV, Parquet, datasets folder)"
    )
    parser.add_argument(
        "--format",
        choices=(*FORMATS, HF, *IMAGE_FORMATS),
        required=True,
        help="the trainer's format (openai: function-calling JSONL), hf, or an image format "
        "(llava, hf-images)",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        required=True,
        help="output file (.jsonl or .parquet; .json for llava); for hf and hf-images, a folder",
    )
    parser.add_argument(
        "--conversational",
        action="store_true",
        help="role/content messages for the chat template (sft always is); default: plain text",
    )
    parser.add_argument(
        "--prompt-column",
        help="prompt column (default: the first of instruction, prompt, question)",
    )
    parser.add_argument(
        "--response-column",
        help="response column for sft and labelled kto rows (default: response, output, completion)",
    )
    parser.add_argument(
        "--system-column", default="system", help="system prompt column, used when conversational"
    )
    parser.add_argument(
        "--input-column",
        default="input",
        help="text appended to the prompt after a blank line when not empty ('' for none)",
    )
    parser.add_argument("--drop-extra", action="store_true", help="write only the format's columns")
    card = parser.add_argument_group("hf format: the dataset card")
    add_card_options(card)
    card.add_argument(
        "--force", action="store_true", help="overwrite a README.md not written by synthaug"
    )
    parser.set_defaults(handler=cmd_export)
