"""Sandbox throughput: synthaug's sandbox (all layers on) vs a plain ``subprocess.run``.

Workloads: (1) a trivial snippet, (2) the 164 HumanEval problems, each its
canonical solution plus the problem's test (``check(entry_point)``) as one
program (``Sandbox.run``), and (3) the same as the verification path runs them:
solution and tests in two processes joined by a pipe (``run_tests``; the
baseline still runs one ``subprocess.run``). Each is run with 1 and with one
worker per CPU, by both runners, interleaved over ``--rounds`` rounds (the best
round of each counts). The sandbox runs uncached. Also measured: the start-up
cost of the boundary alone (``bwrap`` + seccomp around ``python -S -c 0``
against the bare command). Target (issue 4): sandbox rate >= 0.8x the baseline's.

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

from synthaug.verify import boundary
from synthaug.verify.code import run_tests
from synthaug.verify.sandbox import Limits, Sandbox, isolation

TRIVIAL = "print(1 + 1)"


def humaneval_pairs() -> list[tuple[str, str]]:
    path = resources.files("synthaug") / "data" / "benchmarks" / "humaneval.jsonl"
    problems = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        (f"{p['prompt']}{p['canonical_solution']}", f"{p['test']}\n\ncheck({p['entry_point']})")
        for p in problems
    ]


def humaneval_programs() -> list[str]:
    return [f"{solution}\n\n{tests}\n" for solution, tests in humaneval_pairs()]


def baseline(programs: list[str], workers: int) -> float:
    def one(code) -> bool:
        code = "\n\n".join(code) if isinstance(code, tuple) else code
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
        return done.returncode == 0

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        passed = list(pool.map(one, programs))
    elapsed = time.perf_counter() - started
    assert all(passed), f"baseline: {passed.count(False)} programs failed"
    return len(programs) / elapsed


def sandboxed(programs: list, workers: int) -> float:
    sandbox = Sandbox(Limits(), parallel=workers)

    async def one(program):
        if isinstance(program, tuple):
            return await run_tests(sandbox, *program)
        return await sandbox.run(program)

    async def every() -> list[bool]:
        return [r.ok for r in await asyncio.gather(*(one(program) for program in programs))]

    started = time.perf_counter()
    passed = asyncio.run(every())
    elapsed = time.perf_counter() - started
    assert all(passed), f"sandbox: {passed.count(False)} programs failed"
    return len(programs) / elapsed


def startup_ms(runs: int = 40) -> tuple[float, float]:
    """Median wall time of ``python -S -c 0``: bare, and inside the boundary."""
    fds = {"bootstrap": -1, "main": -1}
    bare = [boundary.python_binary(), "-S", "-c", "0"]

    def timed(wrapped: bool) -> float:
        extra, opened = {}, []
        command = bare
        if wrapped:
            fds.update(bootstrap=boundary.data_fd(b""), main=boundary.data_fd(b""))
            seccomp = boundary.data_fd(boundary.compile_filter() or b"")
            opened = [fds["bootstrap"], fds["main"], seccomp]
            command = [*boundary.command(fds, 16, {"PATH": "/usr/bin"}, seccomp), *bare]
            extra = boundary.start_options(boundary.mode()[1] == "nobody")
        started = time.perf_counter()
        subprocess.run(command, check=True, pass_fds=opened, **extra)
        elapsed = time.perf_counter() - started
        for fd in opened:
            os.close(fd)
        return elapsed * 1000

    times = {False: [], True: []}
    for _ in range(runs):
        for wrapped in (False, True):
            times[wrapped].append(timed(wrapped))
    return sorted(times[False])[runs // 2], sorted(times[True])[runs // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial", type=int, default=100, help="runs of the trivial snippet")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    workloads = {
        "trivial snippet": [TRIVIAL] * args.trivial,
        "HumanEval (164), one process": humaneval_programs(),
        "HumanEval (164), tests apart (run_tests)": humaneval_pairs(),
    }
    print(f"# {platform.processor() or platform.machine()}, {cpus} CPUs, python "
          f"{platform.python_version()}, isolation: {', '.join(isolation())}")  # fmt: skip
    if boundary.available() is None:
        bare_ms, boxed_ms = startup_ms()
        print(f"boundary start-up: python -S -c 0 bare {bare_ms:.1f} ms, in bwrap+seccomp "
              f"{boxed_ms:.1f} ms (+{boxed_ms - bare_ms:.1f} ms, median of 40)")  # fmt: skip
    print("| workload | workers | subprocess.run /s | sandbox /s | ratio |")
    print("|---|---|---|---|---|")
    for name, programs in workloads.items():
        for workers in sorted({1, 2, cpus}):
            best_base = best_box = 0.0
            for _ in range(args.rounds):
                best_base = max(best_base, baseline(programs, workers))
                best_box = max(best_box, sandboxed(programs, workers))
            ratio = best_box / best_base
            print(f"| {name} | {workers} | {best_base:.1f} | {best_box:.1f} | **{ratio:.2f}** |")


if __name__ == "__main__":
    main()
