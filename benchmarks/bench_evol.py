"""Evol-Instruct throughput: synthaug's pipeline vs a direct loop over the same requests.

(a) synthaug runs one Evol-Instruct round over the seed tasks (fresh cache),
    recording every request (evolve, answer, equality judge);
(b) a direct loop replays exactly those requests against a fresh engine with
    the same slots, all submitted at once (no dependencies, no cache, no I/O).
Within a row the three calls depend on each other; across rows nothing waits,
so the pipeline should keep the engine as busy as the direct loop.
Target (issue 3): a/b >= 0.9 in generated tokens/s.

    python benchmarks/bench_evol.py [--seeds 175] [--parallel 8]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from pathlib import Path

from bench_throughput import RecordingBackend, replay

from synthaug.llm.client import LLMClient
from synthaug.recipe import build_pipeline, load_recipe


def run_pipeline(seeds: int, parallel: int, workdir: Path) -> tuple[float, list]:
    recipe = load_recipe(
        "evol_instruct",
        [
            "steps[1].params.rounds=1",
            "steps[1].params.max_tokens=128",
            "steps[1].params.answer_max_tokens=192",
            f"backend.parallel={parallel}",
        ],
    )
    backend = RecordingBackend(parallel=parallel)
    client = LLMClient(backend, cache=None)

    async def go() -> float:
        await backend.start()
        started = time.monotonic()
        await build_pipeline(recipe).run(
            out=workdir / "data.jsonl",
            run_dir=workdir / "run",
            llm=client,
            limit=seeds,
            progress=False,
        )
        elapsed = time.monotonic() - started
        await backend.close()
        return elapsed

    elapsed = asyncio.run(go())
    return client.stats.completion_tokens / elapsed, backend.sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=175)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_tps, sent = run_pipeline(args.seeds, args.parallel, Path(tmp))
    direct_tps, _ = replay(sent, args.parallel, workers=args.parallel * 2)
    print(f"date: {time.strftime('%Y-%m-%d')}  machine: {platform.machine()}")
    print(
        f"workload: Evol-Instruct, 1 round, {args.seeds} seeds, {len(sent)} requests, {args.parallel} slots"
    )
    print(f"(a) synthaug pipeline     {pipeline_tps:7.1f} generated tok/s")
    print(f"(b) direct loop (replay)  {direct_tps:7.1f} generated tok/s")
    print(f"a/b = {pipeline_tps / direct_tps:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
