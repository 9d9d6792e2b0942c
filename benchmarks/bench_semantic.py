"""Semantic dedup overhead: synthaug's SemDeDup vs the raw sentence-transformers encode.

(a) ``SentenceTransformer.encode`` of the texts (all-MiniLM-L6-v2, batch 64,
    normalised): the floor any embedding-based dedup pays;
(b) synthaug ``SemanticDuplicates`` on the same texts: embedding in 4,096-row
    batches through the SQLite embedding cache (cold), k-means (√n clusters)
    and SemDeDup at epsilon 0.01.
Texts: the Self-Instruct seed tasks' instructions and instances, one per row
(real text), cycled with a row number so none repeats. Target: b ≥ 0.9 × a in
texts per second.

    python benchmarks/bench_semantic.py [--texts 3000]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from importlib import resources
from pathlib import Path

from synthaug.curate.semantic import SemanticDuplicates
from synthaug.llm.cache import RequestCache
from synthaug.llm.embeddings import MiniLM


def texts(count: int) -> list[str]:
    data = resources.files("synthaug") / "data" / "self_instruct_seed_tasks.jsonl"
    pool = []
    for line in data.read_text().splitlines():
        task = json.loads(line)
        pool.append(task["instruction"])
        pool += [f"{i['input']} {i['output']}".strip() for i in task["instances"]]
    pool = [p for p in pool if p]
    return [f"{pool[i % len(pool)]} ({i // len(pool)})" for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=3000)
    args = parser.parse_args()
    corpus = texts(args.texts)
    with tempfile.TemporaryDirectory() as tmp:
        cache = RequestCache(Path(tmp) / "cache.sqlite3")
        embedder = MiniLM(cache=cache)
        embedder.embed(corpus[:64])  # warm-up, not timed
        started = time.perf_counter()
        embedder.model.encode(
            corpus, batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )
        raw = time.perf_counter() - started
        started = time.perf_counter()
        detector = SemanticDuplicates(embedder, cache)
        for start in range(0, len(corpus), 4096):
            detector.add(corpus[start : start + 4096])
        removed = len(detector.resolve())
        ours = time.perf_counter() - started
    print(f"date: {time.strftime('%Y-%m-%d')}  machine: {platform.machine()}, torch CPU")
    print(f"texts: {len(corpus):,}")
    print(f"(a) sentence-transformers encode  {raw:7.2f} s  {len(corpus) / raw:7.1f} texts/s")
    print(
        f"(b) synthaug SemDeDup (cold cache) {ours:7.2f} s  {len(corpus) / ours:7.1f} texts/s  removed {removed}"
    )
    print(f"b/a = {raw / ours:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
