"""Sandbox throughput: synthaug's sandbox (all limits on) vs a plain ``subprocess.run``.

Workloads: (1) a trivial snippet, (2) the 164 HumanEval problems, each its
canonical solution plus the problem's test (``check(entry_point)``). Each is
run sequentially and with one worker per CPU, by both runners, interleaved
over ``--rounds`` rounds (the best round of each counts). The sandbox runs
uncached. Target (issue 4): sandbox rate >= 0.8x the baseline's.

    python benchmarks/bench_sandbox.py [--trivial 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

from synthaug.verify.sandbox import Limits, Sandbox, isolation

TRIVIAL = "print(1 + 1)"


def humaneval_programs() -> list[str]:
    path = resources.files("synthaug") / "data" / "benchmarks" / "humaneval.jsonl"
    problems = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        f"{p['prompt']}{p['canonical_solution']}\n\n{p['test']}\n\ncheck({p['entry_point']})\n"
        for p in problems
    ]


def baseline(programs: list[str], workers: int) -> float:
    def one(code: str) -> bool:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
        return done.returncode == 0

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        passed = list(pool.map(one, programs))
    elapsed = time.perf_counter() - started
    assert all(passed), f"baseline: {passed.count(False)} programs failed"
    return len(programs) / elapsed


def sandboxed(programs: list[str], workers: int) -> float:
    sandbox = Sandbox(Limits(), parallel=workers)

    async def every() -> list[bool]:
        return [r.ok for r in await asyncio.gather(*(sandbox.run(code) for code in programs))]

    started = time.perf_counter()
    passed = asyncio.run(every())
    elapsed = time.perf_counter() - started
    assert all(passed), f"sandbox: {passed.count(False)} programs failed"
    return len(programs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial", type=int, default=100, help="runs of the trivial snippet")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    workloads = {
        "trivial snippet": [TRIVIAL] * args.trivial,
        "HumanEval (164)": humaneval_programs(),
    }
    print(f"# {platform.processor() or platform.machine()}, {cpus} CPUs, python "
          f"{platform.python_version()}, isolation: {', '.join(isolation())}")  # fmt: skip
    print("| workload | workers | subprocess.run /s | sandbox /s | ratio |")
    print("|---|---|---|---|---|")
    for name, programs in workloads.items():
        for workers in sorted({1, cpus}):
            best_base = best_box = 0.0
            for _ in range(args.rounds):
                best_base = max(best_base, baseline(programs, workers))
                best_box = max(best_box, sandboxed(programs, workers))
            ratio = best_box / best_base
            print(f"| {name} | {workers} | {best_base:.1f} | {best_box:.1f} | **{ratio:.2f}** |")


if __name__ == "__main__":
    main()
