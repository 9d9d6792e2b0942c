"""``synthaug decontaminate``, ``filter``, ``redact`` and ``stats``."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from ..curate.benchmarks import BUILTIN, load_benchmarks
from ..curate.decontaminate import DEFAULT_N, lexical_detectors
from ..curate.diversity import embed as embed_hashed
from ..curate.diversity import report as diversity_report
from ..curate.files import KEPT, Verdict
from ..curate.heuristics import DEFAULT_RULES, RULES, Language, LengthBounds, QualityFilter
from ..curate.llm_decontaminator import SemanticDecontaminator
from ..curate.pii import redact_columns
from ..curate.text import row_text
from ..engine.progress import CountProgress
from ..errors import SynthaugError
from ..io import count_records, read_records
from ..io.writers import write_text_atomic
from ..llm.client import LLMClient
from ..llm.embeddings import embed_cached
from ..llm.registry import backend_types
from ..methods.curation.filters import DecontaminateParams
from ..recipe import BackendConfig
from ..resources import add_cache_options, resources_from_args
from . import command
from .curation import (
    EPILOG,
    curation_job,
    embedder_of,
    embedder_options,
    finish,
    io_options,
    merged,
    on_ray,
    shard_options,
    split_columns,
)
from .params import DEST, add_param_options, params_from_args


@command
def add_commands(commands: Any) -> None:
    decon = commands.add_parser(
        "decontaminate",
        help="remove rows that contain benchmark items (n-grams, substrings, fuzzy, semantic)",
        description="Remove rows that contain benchmark items. overlap: any shared 13-gram "
        "(GPT-3 / lm-eval). coverage: at least --threshold of an item's 8-grams (PaLM). "
        "substring: an item's strings, case-insensitive (StarCoder / Magicoder). fuzzy: token "
        "edit similarity of the item to aligned windows of the row, robust to typos, case, "
        "punctuation, substituted words, reordered sentences and surrounding text. semantic: "
        "the nearest items by embedding, each judged 'same question?' by a model (Yang et "
        "al. 2023; --judge-* options). all: overlap, fuzzy and semantic. Built-in "
        "benchmarks: " + ", ".join(BUILTIN) + "; or give a file.",
        epilog=EPILOG + " Each report line lists every hit: detector, benchmark, item id, "
        "similarity, evidence (semantic: the judge's answer, also where it cleared the row).",
    )
    io_options(decon)
    shard_options(decon)
    decon.add_argument(
        "--benchmark",
        action="append",
        metavar="NAME|FILE",
        help="a built-in benchmark or a data file (repeatable; same as --benchmarks A,B)",
    )
    add_param_options(
        decon, DecontaminateParams, skip=("columns", "cache", "action", "judge_backend")
    )
    decon.add_argument(
        "--judge-backend",
        choices=list(backend_types()),
        default="local",
        help="semantic: the judge's backend (default: local, the embedded model)",
    )
    decon.add_argument("--judge-model", help="semantic: GGUF path (local) or model name")
    decon.add_argument("--judge-base-url", help="semantic: OpenAI-compatible endpoint")
    decon.add_argument("--judge-api-key-env", help="semantic: variable with the judge's key")
    add_cache_options(decon)
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
    shard_options(quality)
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
    if args.executor == "ray":
        return on_ray("decontaminate", args, columns)
    if args.merge:
        return merged("decontaminate", args, columns)
    fixed: dict[str, Any] = {"columns": columns}
    if args.benchmark:
        fixed["benchmarks"] = args.benchmark + (getattr(args, DEST + "benchmarks") or [])
    p = params_from_args(DecontaminateParams, args, **fixed)
    items = load_benchmarks(p.benchmarks, p.benchmark_fields, p.benchmark_id, p.benchmark_kind)
    detectors = lexical_detectors(items, p.mode, p.n, p.threshold, p.fuzzy_threshold)
    job = curation_job("decontaminate", args, columns)
    counts = Counter(item.benchmark for item in items)
    settings: dict[str, Any] = {
        "benchmarks": ", ".join(f"{name} ({count})" for name, count in counts.items()),
        "mode": p.mode,
    }
    if p.mode in ("overlap", "coverage", "all"):
        n = p.n or DEFAULT_N["coverage" if p.mode == "coverage" else "overlap"]
        settings["n-grams"] = f"{n}-grams" + (
            f", coverage >= {p.threshold}" if p.mode == "coverage" else ", any shared"
        )
    if p.mode in ("fuzzy", "all"):
        settings["fuzzy"] = f"token edit similarity >= {p.fuzzy_threshold}"
    loop = asyncio.new_event_loop()
    semantic = client = None
    if p.mode in ("semantic", "all"):
        embedder, cache = embedder_of(p, args)
        client = _judge_client(args, p.judge, loop)
        semantic = SemanticDecontaminator(
            items, embedder, cache, p.top_k, p.min_similarity, constrained=p.constrained
        )
        settings["semantic"] = (
            f"{embedder.identity}, top {p.top_k}, cosine >= {p.min_similarity:g}, judge: "
            + (client.backend.describe() if client else "none (the cosine decides)")
        )

    def decide(batch: list[tuple[int, dict[str, Any]]]) -> list[Verdict]:
        texts = [row_text(record, columns) for _, record in batch]
        found = [[] for _ in texts]
        for detector in detectors:
            for hits, more in zip(found, detector.check(texts), strict=True):
                hits += more
        if semantic is not None:
            nearest = semantic.nearest(texts)
            if client is None:
                judged = [semantic.unjudged(candidates) for candidates in nearest]
            else:
                judged = loop.run_until_complete(_judge_all(semantic, client, nearest))
            for hits, more in zip(found, judged, strict=True):
                hits += more
        verdicts = []
        for hits in found:
            detail = {"matches": [asdict(hit) for hit in hits]} if hits else {}
            if any(hit.contaminated for hit in hits):
                detectors_fired = sorted({h.detector for h in hits if h.contaminated})
                verdicts.append(
                    Verdict(False, "contaminated", detail | {"detectors": detectors_fired})
                )
            else:
                verdicts.append(Verdict(True, detail=detail))
        return verdicts

    try:
        summary = job.write(decide)
    finally:
        if client is not None:
            loop.run_until_complete(client.close())
        loop.close()
    return finish(job, summary, settings)


def _judge_client(
    args: argparse.Namespace, judge: bool, loop: asyncio.AbstractEventLoop
) -> LLMClient | None:
    """The judge's client from the --judge-* options, started (a missing model fails now)."""
    if not judge:
        return None
    options = {
        "type": args.judge_backend,
        "model": args.judge_model,
        "base_url": args.judge_base_url,
        "api_key_env": args.judge_api_key_env,
    }
    config = BackendConfig(**{k: v for k, v in options.items() if v is not None})
    client = resources_from_args(args, llm=config).llm
    assert client is not None
    loop.run_until_complete(client.backend.start())
    return client


async def _judge_all(semantic: SemanticDecontaminator, client: LLMClient, nearest) -> list:
    return list(
        await asyncio.gather(*(semantic.judge(client, candidates, 0) for candidates in nearest))
    )


def cmd_redact(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
    job = curation_job("redact", args, columns)
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
    if args.executor == "ray":
        return on_ray("filter", args, columns)
    if args.merge:
        return merged("filter", args, columns)
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
    job = curation_job("filter", args, columns)

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
