"""``synthaug decontaminate``, ``filter``, ``redact`` and ``stats``."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from ..curate.decontaminate import BUILTIN, DEFAULT_N, Decontaminator, load_benchmark
from ..curate.diversity import embed as embed_hashed
from ..curate.diversity import report as diversity_report
from ..curate.files import KEPT, FileCuration, Verdict
from ..curate.heuristics import DEFAULT_RULES, RULES, Language, LengthBounds, QualityFilter
from ..curate.pii import redact_columns
from ..curate.text import row_text
from ..engine.progress import CountProgress
from ..errors import SynthaugError
from ..io import count_records, read_records
from ..io.writers import write_text_atomic
from ..llm.embeddings import embed_cached
from . import command
from .curation import EPILOG, embedder_of, embedder_options, finish, io_options, split_columns


@command
def add_commands(commands: Any) -> None:
    decon = commands.add_parser(
        "decontaminate",
        help="remove rows that overlap benchmark items (13-gram or 8-gram coverage)",
        description="Remove rows sharing word n-grams with benchmark items. overlap: any "
        "shared 13-gram (GPT-3 / lm-eval). coverage: at least --threshold of an item's "
        "8-grams (PaLM). Built-in benchmarks: " + ", ".join(BUILTIN) + "; or give a file.",
        epilog=EPILOG,
    )
    io_options(decon)
    decon.add_argument(
        "--benchmark",
        action="append",
        metavar="NAME|FILE",
        help="a built-in benchmark or a data file (repeatable; default: all built-in)",
    )
    decon.add_argument("--benchmark-fields", help="comma-separated text fields of a benchmark file")
    decon.add_argument("--benchmark-id", help="id field of a benchmark file (default: row number)")
    decon.add_argument("--mode", choices=["overlap", "coverage"], default="overlap")
    decon.add_argument("--n", type=int, help="n-gram length (overlap 13, coverage 8)")
    decon.add_argument(
        "--threshold", type=float, default=0.7, help="coverage: share of item n-grams (0.7)"
    )
    decon.set_defaults(handler=cmd_decontaminate)

    quality = commands.add_parser(
        "filter",
        help="drop rows failing heuristic quality rules (Gopher, C4, FineWeb, length, language)",
        description="Apply heuristic quality rules with their published thresholds, in order; "
        "the first rule a row fails is its reason. Rules: " + ", ".join(RULES) + ". The c4 rule "
        "also removes C4's bad lines from the text it keeps.",
        epilog=EPILOG,
    )
    io_options(quality)
    quality.add_argument(
        "--rules",
        default=",".join(DEFAULT_RULES),
        help=f"comma-separated rules (default: {','.join(DEFAULT_RULES)})",
    )
    quality.add_argument("--min-words", type=int, default=1, help="length rule: minimum words")
    quality.add_argument(
        "--max-words", type=int, default=100_000, help="length rule: maximum words"
    )
    quality.add_argument("--languages", default="en", help="language rule: allowed ISO codes (en)")
    quality.add_argument(
        "--min-language-probability",
        type=float,
        default=0.65,
        help="language rule threshold (0.65)",
    )
    quality.set_defaults(handler=cmd_filter)

    stats = commands.add_parser(
        "stats",
        help="diversity and coverage metrics of a data file",
        description="distinct-n, self-BLEU, embedding mean pairwise distance, Vendi score, "
        "k-means cluster balance; with --reference also ROUGE-L to the reference set and the "
        "share of its clusters covered. Pairwise metrics use a seeded sample.",
        epilog="Prints the metrics and writes them as JSON (--out). Bad input exits with code 2.",
    )
    stats.add_argument("input", type=Path, help="data file")
    stats.add_argument("--columns", required=True, help="comma-separated text columns")
    stats.add_argument("--reference", type=Path, help="reference/seed data file to compare with")
    stats.add_argument("--reference-columns", help="its text columns (default: --columns)")
    stats.add_argument(
        "--sample", type=int, default=1000, help="sample for pairwise metrics (1000)"
    )
    stats.add_argument("--out", type=Path, help="JSON file (default: INPUT-STEM.stats.json here)")
    stats.add_argument("--quiet", action="store_true", help="no progress display")
    embedder_options(stats, hashed=True)
    stats.set_defaults(handler=cmd_stats)

    redact = commands.add_parser(
        "redact",
        help="replace PII and secrets with typed placeholders",
        description="Replace e-mail addresses, phone numbers, IP addresses, payment cards "
        "(Luhn-checked), IBANs (mod-97 checked) and API keys/secrets in the given columns "
        "with <EMAIL>, <PHONE>, <IP_ADDRESS>, <CREDIT_CARD>, <IBAN>, <SECRET>. Every row is kept.",
        epilog=EPILOG,
    )
    io_options(redact)
    redact.set_defaults(handler=cmd_redact)


def cmd_decontaminate(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
    fields = split_columns(args.benchmark_fields) if args.benchmark_fields else None
    specs = args.benchmark or list(BUILTIN)
    loaded = {spec: load_benchmark(spec, fields, args.benchmark_id) for spec in specs}
    items = [item for spec_items in loaded.values() for item in spec_items]
    index = Decontaminator(items, args.mode, args.n, args.threshold)
    job = FileCuration("decontaminate", args.input, args.out, columns, args.report, args.quiet)

    def decide(batch: list[tuple[int, dict[str, Any]]]) -> list[Verdict]:
        found = index.check([row_text(record, columns) for _, record in batch])
        return [
            Verdict(False, "contaminated", {"matches": [asdict(h) for h in hits]}) if hits else KEPT
            for hits in found
        ]

    settings = {
        "benchmarks": ", ".join(
            f"{s} ({sum(i.benchmark == s or s.endswith(i.benchmark) for i in items)})"
            for s in specs
        ),
        "mode": f"{args.mode}, {args.n or DEFAULT_N[args.mode]}-grams"
        + (f", coverage >= {args.threshold}" if args.mode == "coverage" else ""),
    }
    return finish(job, job.write(decide), settings)


def cmd_redact(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
    job = FileCuration("redact", args.input, args.out, columns, args.report, args.quiet)
    totals: Counter[str] = Counter()

    def decide(batch: list[tuple[int, dict[str, Any]]]) -> list[Verdict]:
        verdicts = []
        for _, record in batch:
            redacted, counts = redact_columns(record, columns)
            totals.update(counts)
            verdicts.append(Verdict(True, detail={"redacted": dict(counts)}, row=redacted))
        return verdicts

    summary = job.write(decide)
    return finish(job, summary, {"redacted": dict(totals) or "nothing found"})


def cmd_filter(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
    rules = tuple(split_columns(args.rules))
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise SynthaugError(
            f"--rules: unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}"
        )
    check = QualityFilter(
        rules,
        LengthBounds(args.min_words, args.max_words),
        Language(tuple(split_columns(args.languages)), args.min_language_probability),
    )
    job = FileCuration("filter", args.input, args.out, columns, args.report, args.quiet)

    def decide(batch: list[tuple[int, dict[str, Any]]]) -> list[Verdict]:
        verdicts = []
        for _, record in batch:
            outcome = check(row_text(record, columns))
            if outcome.reason:
                verdicts.append(Verdict(False, outcome.reason))
            elif "c4" in rules and len(columns) == 1:
                verdicts.append(Verdict(True, row={**record, columns[0]: outcome.text}))
            else:
                verdicts.append(KEPT)
        return verdicts

    return finish(job, job.write(decide), {"rules": ", ".join(rules)})


def cmd_stats(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
    progress = None if args.quiet else CountProgress("stats reading", count_records(args.input))
    texts = []
    for record in read_records(args.input, required=columns):
        texts.append(row_text(record, columns))
        if progress:
            progress.tick()
    if progress:
        progress.draw(final=True)
    if not texts:
        raise SynthaugError(f"{args.input}: no records")
    references = None
    if args.reference:
        ref_columns = split_columns(args.reference_columns) if args.reference_columns else columns
        references = [
            row_text(r, ref_columns) for r in read_records(args.reference, required=ref_columns)
        ]
    embedding = embed_hashed
    if args.embedder != "hashed":
        embedder, cache = embedder_of(args, args)
        embedding = partial(embed_cached, embedder, cache=cache)
    metrics = diversity_report(texts, references, max(args.sample, 2), embedding)
    metrics["embedding"] = (
        "hashed word 1-2-grams" if args.embedder == "hashed" else embedder.identity
    )
    out = args.out or Path(f"{args.input.stem}.stats.json")
    write_text_atomic(out, json.dumps(metrics, indent=2) + "\n")
    width = max(map(len, metrics))
    print("\n".join(f"{name:<{width}}  {value}" for name, value in metrics.items()))
    print(f"written: {out}")
    return 0
