"""Accuracy of ``synthaug plan``: its forecast against the real run it forecasts.

For each recipe, on a fresh request cache: ``synthaug plan RECIPE --sample N --json``, then
``synthaug run RECIPE`` with the same settings (which replays the sample from the cache). The
real figures are what the run's steps asked for, cached answers included (the summary's
per-step ``llm``), so they compare with the forecast of the whole recipe. Target (issue 20):
calls and input/output tokens within ±20 %. Money is tokens at a price; the last column
prices both sides at the built-in gpt-4o-mini list price to show it (the embedded model
itself costs $0).

    python benchmarks/bench_plan.py [--sample 8] [--recipes self_instruct label_llm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from synthaug.llm.prices import PriceTable

WORKLOADS = {
    # a generator source: Self-Instruct's bootstrap grows its pool until the target count
    "self_instruct": ["--set", "steps[0].params.num_instructions=24"],
    # a file source: 16 sarcasm headlines, 2 prompt variants x 3 samples each
    "label_llm": ["--set", "steps[0].params.count=16"],
}
FIGURES = ("requests", "prompt_tokens", "completion_tokens")


def synthaug(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    done = subprocess.run(
        [sys.executable, "-m", "synthaug.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"synthaug {' '.join(args)} failed:\n{done.stderr}")
    return done


def measure(recipe: str, overrides: list[str], sample: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        started = time.monotonic()
        plan = json.loads(
            synthaug("plan", recipe, *overrides, "--sample", str(sample), "--json", cwd=cwd).stdout
        )
        plan_s = time.monotonic() - started
        out = cwd / "data.jsonl"
        synthaug("run", recipe, *overrides, "--out", str(out), "--quiet", cwd=cwd)
        summary = json.loads((cwd / "data.summary.json").read_text())
    real = Counter()
    for step in summary["steps"]:
        real.update(step.get("llm", {}))
    return {"plan": plan, "plan_s": plan_s, "real": dict(real), "summary": summary}


def error(projected: float, real: float) -> str:
    return f"{100 * (projected - real) / real:+.1f} %" if real else "n/a"


def step_row(recipe: str, projected: dict, real: dict) -> str:
    """One step's calls / input tokens / output tokens, projected and real."""
    shown = [" / ".join(f"{u.get(f, 0):,}" for f in FIGURES) for u in (projected, real)]
    errors = " / ".join(error(projected[f], real.get(f, 0)) for f in FIGURES)
    return f"| {recipe} | step {projected['name']}: calls / in / out | {shown[0]} | {shown[1]} | {errors} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=8)
    parser.add_argument("--recipes", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = parser.parse_args()
    price = PriceTable.default().lookup("gpt-4o-mini")
    assert price is not None
    print(f"date: {time.strftime('%Y-%m-%d')}  sample: {args.sample} source rows")
    print("| recipe | figure | projected | real | error |")
    print("|---|---|---|---|---|")
    for recipe in args.recipes:
        result = measure(recipe, WORKLOADS[recipe], args.sample)
        total, real = result["plan"]["total"], result["real"]
        for figure in FIGURES:
            print(
                f"| {recipe} | {figure} | {total[figure]:,} | {real[figure]:,} | "
                f"{error(total[figure], real[figure])} |"
            )
        for projected, done in zip(
            result["plan"]["steps"], result["summary"]["steps"], strict=True
        ):
            if projected["requests"]:
                print(step_row(recipe, projected, done.get("llm", {})))
        cost = [price.cost(u["prompt_tokens"], u["completion_tokens"]) for u in (total, real)]
        print(f"| {recipe} | $ at gpt-4o-mini | {cost[0]:.4f} | {cost[1]:.4f} | {error(*cost)} |")
        left, paid = result["plan"]["remaining"], result["summary"]["llm"]["model_calls"]
        wall = result["plan"]["remaining"]["wall_s"]
        print(
            f"| {recipe} | calls left after the sample / wall s | {left['requests']:,} / "
            f"{wall} | {paid:,} / {result['summary']['wall_s']:.0f} | "
            f"{error(left['requests'], paid)} / {error(wall or 0, result['summary']['wall_s'])} |"
        )
        print(
            f"<!-- {recipe}: source rows {result['plan']['source_rows']}, plan took "
            f"{result['plan_s']:.0f}s, sample {result['plan']['sample']} -->"
        )


if __name__ == "__main__":
    main()
