"""Near-dup, exact-dup and decontamination throughput; MinHash vs datasketch side by side.

Corpus: documents recombined from real text shipped in the package (the
Self-Instruct seed tasks' instructions and instances): each is three to eight
real sentences with a fifth of their words swapped for other real words; 10 %
are lightly edited copies of recent ones; 1 % carry a planted MT-Bench question
or HumanEval prompt (for decontamination).

(a) synthaug ``NearDuplicates`` (word 5-grams, 20 bands × 6 rows, threshold
    0.8), keep-first, with exact-Jaccard and with signature confirmation;
(b) datasketch ``MinHash`` (``update_batch``, 120 permutations) + ``MinHashLSH``
    (same bands × rows), the usual streaming loop: query, insert if new.
Both tokenise the same way; timings include shingling. One process, one core.

    python benchmarks/bench_dedup.py [--docs 100000] [--rss-docs 1000000]

``--rss-docs`` runs a child process over that many short documents (streamed,
not held) and reports its peak RSS (target: ≤ 2 GB at 1 M).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources

from synthaug.curate.decontaminate import Decontaminator, load_benchmark
from synthaug.curate.duplicates import ExactDuplicates, NearDupConfig, NearDuplicates
from synthaug.curate.text import words

BATCH = 4096


DATA = resources.files("synthaug") / "data"


def passages() -> list[str]:
    """Seed-task instructions and instances: real text, not from any benchmark."""
    out = []
    for line in (DATA / "self_instruct_seed_tasks.jsonl").read_text().splitlines():
        task = json.loads(line)
        out.append(task["instruction"])
        out += [f"{i['input']} {i['output']}".strip() for i in task["instances"]]
    return [p for p in out if p]


def benchmark_passages() -> list[str]:
    """MT-Bench questions and HumanEval prompts, planted in 1 % of the documents."""
    out = []
    for line in (DATA / "benchmarks" / "mt_bench.jsonl").read_text().splitlines():
        out += json.loads(line)["turns"]
    for line in (DATA / "benchmarks" / "humaneval.jsonl").read_text().splitlines():
        out.append(json.loads(line)["prompt"])
    return out


def corpus(count: int, seed: int = 0, short: bool = False) -> Iterator[str]:
    """Documents of real sentences with 20 % of words swapped for real words (so documents
    are distinct, as in real data); 10 % near-duplicates; 1 % with a benchmark passage."""
    rng = random.Random(seed)
    sentences = [
        s for p in passages() for s in re.split(r"(?<=[.!?])\s+", p) if len(s.split()) >= 3
    ]
    vocabulary = [w for s in sentences for w in s.split()]
    planted = benchmark_passages()
    recent: list[str] = []
    for _ in range(count):
        draw = rng.random()
        if recent and draw < 0.1:
            tokens = rng.choice(recent).split()
            tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(vocabulary))
            text = " ".join(tokens)
        else:
            chosen = " ".join(
                rng.choice(sentences)
                for _ in range(rng.randint(1, 2) if short else rng.randint(3, 8))
            )
            tokens = [rng.choice(vocabulary) if rng.random() < 0.2 else w for w in chosen.split()]
            text = " ".join(tokens[:16] if short else tokens)
            if draw > 0.99:
                text += "\n" + rng.choice(planted)
        recent = [*recent[-999:], text]
        yield text


def run_synthaug(texts: list[str], confirm: str) -> tuple[float, int]:
    started = time.perf_counter()
    finder = NearDuplicates(NearDupConfig(confirm=confirm))
    for start in range(0, len(texts), BATCH):
        finder.add(texts[start : start + BATCH])
    dropped = len(finder.resolve())
    return time.perf_counter() - started, dropped


def run_datasketch(texts: list[str]) -> tuple[float, int]:
    from datasketch import MinHash, MinHashLSH

    started = time.perf_counter()
    lsh = MinHashLSH(num_perm=120, params=(20, 6))
    dropped = 0
    for index, text in enumerate(texts):
        tokens = words(text)
        grams = [" ".join(tokens[i : i + 5]).encode() for i in range(max(len(tokens) - 4, 1))]
        signature = MinHash(num_perm=120, seed=1)
        signature.update_batch(grams)
        if lsh.query(signature):
            dropped += 1
        else:
            lsh.insert(index, signature)
    return time.perf_counter() - started, dropped


def timed(label: str, megabytes: float, seconds: float, extra: str = "") -> None:
    print(f"{label:<44} {seconds:7.2f} s  {megabytes / seconds:7.2f} MB/s {extra}")


def rss_child(count: int) -> None:
    finder = NearDuplicates()
    batch: list[str] = []
    for text in corpus(count, short=True):
        batch.append(text)
        if len(batch) == BATCH:
            finder.add(batch)
            batch = []
    finder.add(batch)
    dropped = len(finder.resolve())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "docs": count,
                "dropped": dropped,
                "peak_rss_mb": round(peak),
                "confirmation": finder.confirmation,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--rss-docs", type=int, default=1_000_000)
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    texts = list(corpus(args.docs))
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    print(f"date: {time.strftime('%Y-%m-%d')}  machine: {platform.machine()}, 1 process")
    print(f"corpus: {len(texts):,} documents, {megabytes:.1f} MB")
    exact_s, exact_drop = run_synthaug(texts, "exact")
    signature_s, signature_drop = run_synthaug(texts, "signature")
    sketch_s, sketch_drop = run_datasketch(texts)
    timed(
        "(a) synthaug near-dup, exact confirmation", megabytes, exact_s, f"dropped {exact_drop:,}"
    )
    timed(
        "(a') synthaug near-dup, signature confirmation",
        megabytes,
        signature_s,
        f"dropped {signature_drop:,}",
    )
    timed("(b) datasketch MinHash + MinHashLSH", megabytes, sketch_s, f"dropped {sketch_drop:,}")
    print(
        f"speed-up a/b = {sketch_s / exact_s:.1f}x, a'/b = {sketch_s / signature_s:.1f}x  (target >= 5x)"
    )

    started = time.perf_counter()
    exact = ExactDuplicates()
    for start in range(0, len(texts), BATCH):
        exact.add(texts[start : start + BATCH])
    exact_dups = len(exact.resolve())
    timed(
        "exact dedup (NFKC, case, whitespace)",
        megabytes,
        time.perf_counter() - started,
        f"dropped {exact_dups:,}",
    )

    index = Decontaminator(load_benchmark("humaneval") + load_benchmark("mt_bench"))
    started = time.perf_counter()
    flagged = sum(
        bool(hits)
        for start in range(0, len(texts), 1024)
        for hits in index.check(texts[start : start + 1024])
    )
    timed(
        "13-gram decontamination (HumanEval + MT-Bench)",
        megabytes,
        time.perf_counter() - started,
        f"flagged {flagged:,}",
    )

    if args.rss_docs:
        child = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(args.rss_docs)],
            capture_output=True,
            text=True,
            check=True,
        )
        print(
            f"peak RSS, near-dup of short documents: {child.stdout.strip()}  (target <= 2048 MB at 1M)"
        )


if __name__ == "__main__":
    main()
