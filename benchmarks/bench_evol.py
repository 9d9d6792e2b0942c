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
import platform
import tempfile
import time
from pathlib import Path

from bench_throughput import replay, run_pipeline

OVERRIDES = [
    "steps[1].params.rounds=1",
    "steps[1].params.max_tokens=128",
    "steps[1].params.answer_max_tokens=192",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=175)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_tps, sent = run_pipeline(
            "evol_instruct", OVERRIDES, args.parallel, Path(tmp), args.seeds
        )
    direct_tps, _, _ = replay(sent, args.parallel, workers=args.parallel * 2)
    print(f"date: {time.strftime('%Y-%m-%d')}  machine: {platform.machine()}")
    print(
        f"workload: Evol-Instruct, 1 round, {args.seeds} seeds, {len(sent)} requests, {args.parallel} slots"
    )
    print(f"(a) synthaug pipeline     {pipeline_tps:7.1f} generated tok/s")
    print(f"(b) direct loop (replay)  {direct_tps:7.1f} generated tok/s")
    print(f"a/b = {pipeline_tps / direct_tps:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
