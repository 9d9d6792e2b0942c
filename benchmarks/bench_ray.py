"""Scale-out on Ray: near-dup with 1 vs 2 Ray workers, Ray-1 vs the single-process command.

Corpus: ``bench_dedup.corpus`` (real sentences recombined, 10 % near-duplicates), written
as JSONL. Each configuration runs the real CLI in a fresh process and is timed end to end
(reading, signing, resolving, writing):

(a) ``synthaug dedup --mode near`` (one process);
(b) the same with ``--executor ray --workers 1`` and (c) ``--workers 2`` on a local Ray that
    the command starts (``ray.init(num_cpus=N)``; its start-up and shut-down are in the time).

Every output and report must be byte-identical to (a). Targets from issue 21: (c)/(b) >=
1.6x, (a)/(b) >= 0.85x. Signing, bucketing and confirmation run in Ray tasks (see
``synthaug.curate.ray_minhash``); the driver reads the input (parsing, preferences), keeps
the confirmed edges and writes the output, so that share bounds the speed-up. Also printed:
the load average before and after, since other work on the machine skews the times.

With ``--recipe-people N`` (0: skipped), also a recipe (``rewrite.bios`` then
``rewrite.style`` on the embedded model, 16 tokens) run with ``--executor ray --workers 1``
and ``2`` (one local model per worker), each on a fresh cache.

    python benchmarks/bench_ray.py [--docs 500000] [--recipe-people 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_dedup import corpus

RECIPE = """\
name: bench_ray
seed: 0
backend: {type: local, parallel: 2}
steps:
  - {name: bios, method: rewrite.bios, params: {num_people: %d}}
  - {name: rewrite, method: rewrite.style, params: {max_tokens: 16}}
"""
ENV = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # a local Ray on 127.0.0.1


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "synthaug.cli", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"synthaug {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def bench_dedup(folder: Path, docs: int) -> dict:
    with open(folder / "docs.jsonl", "w", encoding="utf-8") as handle:
        for text in corpus(docs):
            handle.write(json.dumps({"text": text}) + "\n")
    base = ["dedup", "docs.jsonl", "--columns", "text", "--mode", "near", "--quiet", "-o"]
    runs = {
        "single_process": [*base, "local.jsonl"],
        "ray_1_worker": [*base, "ray1.jsonl", "--executor", "ray", "--workers", "1"],
        "ray_2_workers": [*base, "ray2.jsonl", "--executor", "ray", "--workers", "2"],
    }
    seconds = {name: round(timed(args, folder), 2) for name, args in runs.items()}
    identical = all(
        (folder / f"{name}{suffix}").read_bytes() == (folder / f"local{suffix}").read_bytes()
        for name in ("ray1", "ray2")
        for suffix in (".jsonl", ".report.jsonl")
    )
    return {
        "docs": docs,
        "seconds": seconds,
        "speedup_2_vs_1_workers": round(seconds["ray_1_worker"] / seconds["ray_2_workers"], 2),
        "ray_1_vs_single_process": round(seconds["single_process"] / seconds["ray_1_worker"], 2),
        "outputs_identical": identical,
    }


def bench_recipe(folder: Path, people: int) -> dict:
    (folder / "recipe.yaml").write_text(RECIPE % people)
    seconds = {}
    for workers in (1, 2):
        args = ["run", "recipe.yaml", "--out", f"w{workers}/data.jsonl", "--quiet"]
        args += ["--cache", f"w{workers}.sqlite3", "--executor", "ray", "--workers", str(workers)]
        seconds[f"{workers}_workers"] = round(timed(args, folder), 2)
    return {
        "people": people,
        "seconds": seconds,
        "speedup_2_vs_1_workers": round(seconds["1_workers"] / seconds["2_workers"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=500_000)
    parser.add_argument("--recipe-people", type=int, default=0)
    args = parser.parse_args()
    result: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
    }
    result["load_average_before"] = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        result["near_dedup"] = bench_dedup(Path(tmp), args.docs)
        if args.recipe_people:
            result["recipe"] = bench_recipe(Path(tmp), args.recipe_people)
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
