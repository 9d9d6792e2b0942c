"""The curation commands: ``synthaug dedup`` and ``synthaug decontaminate``."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SynthaugError
from ..io import read_records
from ..io.writers import write_text_atomic
from ..llm.cache import RequestCache, default_cache_path
from .decontaminate import BUILTIN, DEFAULT_N, Decontaminator, load_benchmark
from .diversity import report as diversity_report
from .duplicates import ExactDuplicates, NearDupConfig, NearDuplicates, preference
from .embeddings import Embedder, Endpoint, MiniLM, embed_cached
from .files import KEPT, FileCuration, Verdict, render, row_id
from .heuristics import DEFAULT_RULES, RULES, Language, LengthBounds, QualityFilter
from .pii import redact_columns
from .prune import prune
from .semantic import SemanticDuplicates
from .text import Normalization, row_text

_BATCH = 4096
EPILOG = "Writes OUT, OUT's .report.jsonl (one line per input row) and .summary.json. Bad input exits with code 2."


def add_commands(commands: Any) -> None:
    dedup = commands.add_parser(
        "dedup",
        help="remove exact or near duplicates (MinHash LSH) from a data file",
        description="Remove duplicate rows. exact: identical normalised text. near: MinHash "
        "LSH on word n-grams, candidate pairs confirmed by Jaccard similarity. semantic: "
        "SemDeDup on sentence embeddings (k-means, then pairs closer than 1 - epsilon in a "
        "cluster; the member farthest from the centroid stays).",
        epilog=EPILOG,
    )
    _common(dedup)
    dedup.add_argument("--mode", choices=["exact", "near", "semantic"], default="near")
    dedup.add_argument(
        "--keep",
        choices=["first", "longest", "score"],
        default="first",
        help="which duplicate survives",
    )
    dedup.add_argument("--score-column", help="column to maximise with --keep score")
    dedup.add_argument("--threshold", type=float, default=0.8, help="near: Jaccard threshold (0.8)")
    dedup.add_argument("--ngram", type=int, default=5, help="near: words per shingle (5)")
    dedup.add_argument("--bands", type=int, default=20, help="near: LSH bands (20)")
    dedup.add_argument("--rows", type=int, default=6, help="near: rows per band (6)")
    dedup.add_argument(
        "--confirm",
        choices=["auto", "exact", "signature"],
        default="auto",
        help="near: confirm pairs by exact Jaccard of shingle sets, by signatures, or exact "
        "while under 50M shingles held (auto)",
    )
    dedup.add_argument(
        "--epsilon", type=float, default=0.01, help="semantic: 1 - cosine cut-off (0.01)"
    )
    dedup.add_argument(
        "--clusters", type=int, help="semantic: k-means clusters (default: sqrt(rows))"
    )
    _embedder_options(dedup)
    dedup.add_argument("--case-sensitive", action="store_true", help="exact: keep case differences")
    dedup.add_argument("--strip-punctuation", action="store_true", help="exact: ignore punctuation")
    dedup.set_defaults(handler=cmd_dedup)

    decon = commands.add_parser(
        "decontaminate",
        help="remove rows that overlap benchmark items (13-gram or 8-gram coverage)",
        description="Remove rows sharing word n-grams with benchmark items. overlap: any "
        "shared 13-gram (GPT-3 / lm-eval). coverage: at least --threshold of an item's "
        "8-grams (PaLM). Built-in benchmarks: " + ", ".join(BUILTIN) + "; or give a file.",
        epilog=EPILOG,
    )
    _common(decon)
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
    _common(quality)
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
    stats.set_defaults(handler=cmd_stats)

    pruning = commands.add_parser(
        "prune",
        help="keep a share of every embedding cluster (diversity or density pruning)",
        description="Tsai et al. 2024: embed, optionally PCA, k-means, then keep --fraction of "
        "each cluster by farthest-point sampling (diversity) or lowest kernel density (density).",
        epilog=EPILOG,
    )
    _common(pruning)
    pruning.add_argument("--fraction", type=float, default=0.1, help="share kept per cluster (0.1)")
    pruning.add_argument("--metric", choices=["diversity", "density"], default="diversity")
    pruning.add_argument("--clusters", type=int, help="k-means clusters (default: sqrt(rows))")
    pruning.add_argument("--pca", type=int, metavar="DIMS", help="reduce embeddings to DIMS first")
    _embedder_options(pruning)
    pruning.set_defaults(handler=cmd_prune)

    redact = commands.add_parser(
        "redact",
        help="replace PII and secrets with typed placeholders",
        description="Replace e-mail addresses, phone numbers, IP addresses, payment cards "
        "(Luhn-checked), IBANs (mod-97 checked) and API keys/secrets in the given columns "
        "with <EMAIL>, <PHONE>, <IP_ADDRESS>, <CREDIT_CARD>, <IBAN>, <SECRET>. Every row is kept.",
        epilog=EPILOG,
    )
    _common(redact)
    redact.set_defaults(handler=cmd_redact)


def _embedder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embedder",
        choices=["minilm", "endpoint"],
        default="minilm",
        help="minilm: bundled all-MiniLM-L6-v2 (embeddings extra); endpoint: OpenAI-compatible",
    )
    parser.add_argument("--base-url", help="endpoint: e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", help="endpoint: embedding model name")
    parser.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="endpoint: variable with the key"
    )
    parser.add_argument(
        "--cache", type=Path, help="embedding cache file (default: the request cache)"
    )
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")


def build_embedder(args: argparse.Namespace) -> tuple[Embedder, RequestCache | None]:
    cache = None if args.no_cache else RequestCache(args.cache or default_cache_path())
    if args.embedder == "endpoint":
        if not args.base_url or not args.model:
            raise SynthaugError("--embedder endpoint: needs --base-url and --model")
        return Endpoint(args.base_url, args.model, args.api_key_env), cache
    return MiniLM(cache=cache), cache


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", type=Path, help="data file (JSONL, JSON, CSV, Parquet, datasets folder)"
    )
    parser.add_argument(
        "-o", "--out", type=Path, required=True, help="output file (.jsonl or .parquet)"
    )
    parser.add_argument("--columns", required=True, help="comma-separated text columns to examine")
    parser.add_argument("--report", type=Path, help="report file (default: OUT's .report.jsonl)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def _columns(text: str) -> list[str]:
    columns = [c.strip() for c in text.split(",") if c.strip()]
    if not columns:
        raise SynthaugError("--columns: give at least one column name")
    return columns


def _finish(job: FileCuration, summary: dict[str, Any], settings: dict[str, Any]) -> int:
    summary["settings"] = settings
    job.save(summary)
    print(render(summary))
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    columns = _columns(args.columns)
    if args.keep == "score" and not args.score_column:
        raise SynthaugError("--keep score: needs --score-column")
    required = [*columns, args.score_column] if args.score_column else columns
    job = FileCuration(
        f"dedup-{args.mode}", args.input, args.out, required, args.report, args.quiet
    )
    if args.mode == "semantic":
        if not 0 < args.epsilon < 1:
            raise SynthaugError("--epsilon: must be in (0, 1)")
        embedder, cache = build_embedder(args)
        detector: ExactDuplicates | NearDuplicates | SemanticDuplicates = SemanticDuplicates(
            embedder, cache, args.epsilon, args.clusters
        )
        settings: dict[str, Any] = {
            "embedder": embedder.identity,
            "rule": f"SemDeDup, cosine > {1 - args.epsilon:g} inside k-means clusters",
        }
    elif args.mode == "exact":
        detector = ExactDuplicates(
            Normalization(
                lowercase=not args.case_sensitive, strip_punctuation=args.strip_punctuation
            )
        )
        settings = {"normalisation": asdict(detector.normalization)}
    else:
        if not 0 < args.threshold <= 1:
            raise SynthaugError("--threshold: must be in (0, 1]")
        config = NearDupConfig(
            args.threshold, args.ngram, args.bands, args.rows, confirm=args.confirm
        )
        detector = NearDuplicates(config)
        settings = {
            "shingles": f"word {config.ngram}-grams",
            "lsh": f"{config.bands} bands x {config.rows} rows ({config.num_perm} permutations)",
            "catch probability at threshold": f"{config.catch_at_threshold:.4f} at Jaccard {config.threshold}",
        }
    ids: list[str | None] = []
    texts: list[str] = []
    preferences: list[float] = []
    for _, record in job.rows("pass 1/2"):
        text = row_text(record, columns)
        texts.append(text)
        preferences.append(preference(record, text, args.keep, args.score_column))
        ids.append(row_id(record))
        if len(texts) == _BATCH:
            detector.add(texts, preferences)
            texts, preferences = [], []
    detector.add(texts, preferences)
    duplicates = detector.resolve()
    if isinstance(detector, NearDuplicates):
        settings["confirmation"] = detector.confirmation
    reason = f"{args.mode}_duplicate"

    def verdict(index: int) -> Verdict:
        duplicate = duplicates.get(index)
        if duplicate is None:
            return KEPT
        detail = {"partner_row": duplicate.partner + 1, "partner_id": ids[duplicate.partner]}
        if args.mode != "exact":
            detail["similarity"] = round(duplicate.similarity, 4)
        return Verdict(False, reason, detail)

    def decide(batch: list[tuple[int, dict[str, Any]]]) -> list[Verdict]:
        return [verdict(index) for index, _ in batch]

    return _finish(job, job.write(decide, "pass 2/2"), settings)


def cmd_decontaminate(args: argparse.Namespace) -> int:
    columns = _columns(args.columns)
    fields = _columns(args.benchmark_fields) if args.benchmark_fields else None
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
    return _finish(job, job.write(decide), settings)


def cmd_redact(args: argparse.Namespace) -> int:
    columns = _columns(args.columns)
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
    return _finish(job, summary, {"redacted": dict(totals) or "nothing found"})


def cmd_filter(args: argparse.Namespace) -> int:
    columns = _columns(args.columns)
    rules = tuple(_columns(args.rules))
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise SynthaugError(
            f"--rules: unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}"
        )
    check = QualityFilter(
        rules,
        LengthBounds(args.min_words, args.max_words),
        Language(tuple(_columns(args.languages)), args.min_language_probability),
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

    return _finish(job, job.write(decide), {"rules": ", ".join(rules)})


def cmd_stats(args: argparse.Namespace) -> int:
    columns = _columns(args.columns)
    texts = [row_text(r, columns) for r in read_records(args.input, required=columns)]
    if not texts:
        raise SynthaugError(f"{args.input}: no records")
    references = None
    if args.reference:
        ref_columns = _columns(args.reference_columns) if args.reference_columns else columns
        references = [
            row_text(r, ref_columns) for r in read_records(args.reference, required=ref_columns)
        ]
    metrics = diversity_report(texts, references, max(args.sample, 2))
    out = args.out or Path(f"{args.input.stem}.stats.json")
    write_text_atomic(out, json.dumps(metrics, indent=2) + "\n")
    width = max(map(len, metrics))
    print("\n".join(f"{name:<{width}}  {value}" for name, value in metrics.items()))
    print(f"written: {out}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    columns = _columns(args.columns)
    if not 0 < args.fraction <= 1:
        raise SynthaugError("--fraction: must be in (0, 1]")
    job = FileCuration("prune", args.input, args.out, columns, args.report, args.quiet)
    embedder, cache = build_embedder(args)
    blocks = []
    texts: list[str] = []
    for _, record in job.rows("embedding"):
        texts.append(row_text(record, columns))
        if len(texts) == _BATCH:
            blocks.append(embed_cached(embedder, texts, cache))
            texts = []
    if texts:
        blocks.append(embed_cached(embedder, texts, cache))
    vectors = np.concatenate(blocks) if blocks else np.zeros((0, 1))
    kept = set(prune(vectors, args.fraction, args.metric, args.clusters, args.pca))

    def decide(batch: list[tuple[int, dict[str, Any]]]) -> list[Verdict]:
        return [
            KEPT if index in kept else Verdict(False, f"pruned_{args.metric}") for index, _ in batch
        ]

    settings = {"embedder": embedder.identity, "fraction": args.fraction, "metric": args.metric}
    return _finish(job, job.write(decide), settings)
