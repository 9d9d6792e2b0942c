"""``synthaug dedup`` (exact, near, semantic) and ``synthaug prune``."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

import numpy as np

from ..commands import command
from ..errors import SynthaugError
from ..llm.embeddings import embed_cached
from .cli_common import (
    BATCH,
    EPILOG,
    build_embedder,
    embedder_options,
    finish,
    io_options,
    split_columns,
)
from .duplicates import ExactDuplicates, NearDupConfig, NearDuplicates, preference
from .files import KEPT, FileCuration, Verdict, row_id
from .prune import prune
from .semantic import SemanticDuplicates
from .text import Normalization, row_text


@command
def add_commands(commands: Any) -> None:
    dedup = commands.add_parser(
        "dedup",
        help="remove exact, near (MinHash LSH) or semantic (SemDeDup) duplicates",
        description="Remove duplicate rows. exact: identical normalised text. near: MinHash "
        "LSH on word n-grams, candidate pairs confirmed by Jaccard similarity. semantic: "
        "SemDeDup on sentence embeddings (k-means, then pairs closer than 1 - epsilon in a "
        "cluster; the member farthest from the centroid stays).",
        epilog=EPILOG,
    )
    io_options(dedup)
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
    embedder_options(dedup)
    dedup.add_argument("--case-sensitive", action="store_true", help="exact: keep case differences")
    dedup.add_argument("--strip-punctuation", action="store_true", help="exact: ignore punctuation")
    dedup.set_defaults(handler=cmd_dedup)

    pruning = commands.add_parser(
        "prune",
        help="keep a share of every embedding cluster (diversity or density pruning)",
        description="Tsai et al. 2024: embed, optionally PCA, k-means, then keep --fraction of "
        "each cluster by farthest-point sampling (diversity) or lowest kernel density (density).",
        epilog=EPILOG,
    )
    io_options(pruning)
    pruning.add_argument("--fraction", type=float, default=0.1, help="share kept per cluster (0.1)")
    pruning.add_argument("--metric", choices=["diversity", "density"], default="diversity")
    pruning.add_argument("--clusters", type=int, help="k-means clusters (default: sqrt(rows))")
    pruning.add_argument("--pca", type=int, metavar="DIMS", help="reduce embeddings to DIMS first")
    embedder_options(pruning)
    pruning.set_defaults(handler=cmd_prune)


def cmd_dedup(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
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
        if len(texts) == BATCH:
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

    return finish(job, job.write(decide, "pass 2/2"), settings)


def cmd_prune(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
    if not 0 < args.fraction <= 1:
        raise SynthaugError("--fraction: must be in (0, 1]")
    job = FileCuration("prune", args.input, args.out, columns, args.report, args.quiet)
    embedder, cache = build_embedder(args)
    blocks = []
    texts: list[str] = []
    for _, record in job.rows("embedding"):
        texts.append(row_text(record, columns))
        if len(texts) == BATCH:
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
    return finish(job, job.write(decide), settings)
