"""``synthaug dedup`` (exact, near, semantic) and ``synthaug prune``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from ..curate.duplicates import ExactDuplicates, NearDuplicates, preference
from ..curate.files import KEPT, FileCuration, Verdict, row_id
from ..curate.prune import prune
from ..curate.ray_minhash import RayNearDuplicates
from ..curate.semantic import SemanticDuplicates
from ..curate.text import row_text
from ..errors import SynthaugError
from ..llm.embeddings import embed_cached
from ..methods.curation.dedup import (
    DedupExact,
    DedupExactParams,
    DedupNear,
    DedupNearParams,
    DedupSemanticParams,
)
from ..methods.curation.prune import PruneParams
from ..resources import add_cache_options
from . import command
from .curation import BATCH, EPILOG, embedder_of, finish, io_options, split_columns
from .params import add_param_options, params_from_args
from .ray_executor import add_executor_options

# the steps' own params: the same options, defaults and checks as in a recipe
DEDUP_PARAMS = {"exact": DedupExactParams, "near": DedupNearParams, "semantic": DedupSemanticParams}


@command
def add_commands(commands: Any) -> None:
    dedup = commands.add_parser(
        "dedup",
        help="remove exact, near (MinHash LSH) or semantic (SemDeDup) duplicates",
        description="Remove duplicate rows. exact: identical normalised text. near: MinHash "
        "LSH on word n-grams, candidate pairs confirmed by Jaccard similarity. semantic: "
        "SemDeDup on sentence embeddings (k-means, then pairs closer than 1 - epsilon in a "
        "cluster; the member farthest from the centroid stays, or with --order input the "
        "earliest row).",
        epilog=EPILOG,
    )
    io_options(dedup)
    dedup.add_argument("--mode", choices=list(DEDUP_PARAMS), default="near")
    for params in DEDUP_PARAMS.values():
        add_param_options(dedup, params, skip=("columns", "cache"))
    add_cache_options(dedup)
    add_executor_options(
        dedup, "(--mode near) signing, LSH bucketing and confirmation in Ray tasks, the "
        "driver holding a few numbers per row; the same output",
        "tasks at once (a local Ray gets N CPUs)",
    )  # fmt: skip
    dedup.set_defaults(handler=cmd_dedup)

    pruning = commands.add_parser(
        "prune",
        help="keep a share of every embedding cluster (diversity or density pruning)",
        description="Tsai et al. 2024: embed, optionally PCA, k-means, then keep --fraction of "
        "each cluster by farthest-point sampling (diversity) or lowest kernel density (density).",
        epilog=EPILOG,
    )
    io_options(pruning)
    add_param_options(pruning, PruneParams, skip=("columns", "cache"))
    add_cache_options(pruning)
    pruning.set_defaults(handler=cmd_prune)


def cmd_dedup(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
    p = params_from_args(DEDUP_PARAMS[args.mode], args, columns=columns)
    # SemDeDup's order param decides which member stays: no keep policy
    keep, score_column = getattr(p, "keep", "first"), getattr(p, "score_column", None)
    required = [*columns, score_column] if score_column else columns
    job = FileCuration(
        f"dedup-{args.mode}", args.input, args.out, required, args.report, args.quiet
    )
    detector: ExactDuplicates | NearDuplicates | SemanticDuplicates
    if isinstance(p, DedupSemanticParams):
        embedder, cache = embedder_of(p, args)
        detector = SemanticDuplicates(embedder, cache, p.epsilon, p.clusters, p.order)
        stays = (
            "the earliest row" if p.order == "input" else "the member farthest from the centroid"
        )
        settings: dict[str, Any] = {
            "embedder": embedder.identity,
            "rule": f"SemDeDup, cosine > {1 - p.epsilon:g} inside k-means clusters; {stays} stays",
        }
    elif isinstance(p, DedupExactParams):
        detector = DedupExact(**p.model_dump()).detector()
        settings = {"normalisation": asdict(detector.normalization)}
    else:
        detector = DedupNear(**p.model_dump()).detector()
        config = detector.config
        settings = {
            "shingles": f"word {config.ngram}-grams",
            "lsh": f"{config.bands} bands x {config.rows} rows ({config.num_perm} permutations)",
            "catch probability at threshold": f"{config.catch_at_threshold:.4f} at Jaccard {config.threshold}",
        }
    on_ray = getattr(args, "executor", "local") == "ray"
    if on_ray and not isinstance(detector, NearDuplicates):
        raise SynthaugError("--executor ray: only --mode near runs on Ray")
    if on_ray and args.workers < 1:
        raise SynthaugError("--workers: must be at least 1")
    ids: list[str | None] = []
    with (
        _on_ray(detector, job.total, args) if on_ray else contextlib.nullcontext(detector) as found
    ):
        batch = found.chunk if isinstance(found, RayNearDuplicates) else BATCH
        texts: list[str] = []
        preferences: list[float] = []
        for _, record in job.rows("pass 1/2"):
            text = row_text(record, columns)
            texts.append(text)
            preferences.append(preference(record, text, keep, score_column))
            ids.append(row_id(record))
            if len(texts) == batch:
                found.add(texts, preferences)
                texts, preferences = [], []
        found.add(texts, preferences)
        duplicates = found.resolve()
    if isinstance(found, NearDuplicates | RayNearDuplicates):
        settings["confirmation"] = found.confirmation
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


@contextlib.contextmanager
def _on_ray(
    detector: NearDuplicates, total: int, args: argparse.Namespace
) -> Iterator[RayNearDuplicates]:
    """``detector``'s work in Ray tasks on the cluster at ``args.address`` (a local Ray when
    None), disconnected at the end."""
    from .ray_executor import connect

    ray = connect(args.address, args.workers)
    try:
        yield RayNearDuplicates(ray, detector.config, args.workers, total, _say(args.quiet))
    except ray.exceptions.RayTaskError as exc:
        raise SynthaugError(f"--executor ray: {exc.cause}") from None
    except ray.exceptions.RayError as exc:  # a worker or node lost past the retries
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SynthaugError(f"--executor ray: {first}") from None
    finally:
        ray.shutdown()


def _say(quiet: bool) -> Callable[[str], None]:
    def say(step: str) -> None:
        if not quiet:
            print(f"synthaug: dedup on Ray: {step}", file=sys.stderr)

    return say


def cmd_prune(args: argparse.Namespace) -> int:
    columns = split_columns(args.columns)
    p = params_from_args(PruneParams, args, columns=columns)
    job = FileCuration("prune", args.input, args.out, columns, args.report, args.quiet)
    embedder, cache = embedder_of(p, args)
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
    kept = set(prune(vectors, p.fraction, p.metric, p.clusters, p.pca))

    def decide(batch: list[tuple[int, dict[str, Any]]]) -> list[Verdict]:
        return [
            KEPT if index in kept else Verdict(False, f"pruned_{p.metric}") for index, _ in batch
        ]

    settings = {"embedder": embedder.identity, "fraction": p.fraction, "metric": p.metric}
    return finish(job, job.write(decide), settings)
