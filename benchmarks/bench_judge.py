"""Judge throughput: ``judge.pointwise`` in synthaug's pipeline vs a direct loop of the same
constrained requests.

Untimed setup: the embedded model writes ``--per-prompt`` responses to each of ``--prompts``
Self-Instruct seed tasks (``preference.responses``). Then
(a) synthaug runs ``load → judge.pointwise`` (Self-Rewarding's additive rubric, GBNF
    grammar, 3 samples per response) on a fresh engine without a cache, recording every
    request it sends;
(b) a direct loop replays exactly those requests against a fresh engine with the same
    slots, all submitted at once from a thread pool (no cache, no I/O, no parsing).
Reported: ratings (judged responses) per second and judge samples per second for each,
and a/b. Target (issue 7): a/b ≥ 0.9.

    python benchmarks/bench_judge.py [--prompts 16] [--per-prompt 2] [--parallel 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
from pathlib import Path

import yaml
from bench_throughput import RecordingBackend, replay

from synthaug.engine.resources import RunResources
from synthaug.llm.client import LLMClient
from synthaug.llm.local import LocalBackend
from synthaug.recipe import build_pipeline, load_recipe


def write_recipe(path: Path, steps: list[dict], parallel: int) -> Path:
    recipe = {"name": path.stem, "backend": {"type": "local", "parallel": parallel}}
    path.write_text(yaml.safe_dump({**recipe, "steps": steps}), encoding="utf-8")
    return path


def run(recipe: Path, out: Path, backend: LocalBackend, limit: int | None = None) -> float:
    """Seconds ``recipe`` takes on ``backend`` (already a fresh engine), without a cache."""

    async def go() -> float:
        await backend.start()
        started = time.monotonic()
        await build_pipeline(load_recipe(str(recipe))).run(
            out=out,
            run_dir=out.parent / f"{out.stem}-run",
            resources=RunResources(llm=LLMClient(backend, cache=None)),
            limit=limit,
            progress=False,
        )
        elapsed = time.monotonic() - started
        await backend.close()
        return elapsed

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--per-prompt", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        responses = work / "responses.jsonl"
        setup = [
            {"method": "seed_tasks"},
            {
                "method": "preference.responses",
                "params": {
                    "per_prompt": args.per_prompt,
                    "max_tokens": 96,
                    # the sampling this benchmark was first recorded with
                    "pool": [{"temperature": 0.7, "top_p": 0.9}],
                },
            },
        ]
        run(
            write_recipe(work / "responses.yaml", setup, args.parallel),
            responses,
            LocalBackend(parallel=args.parallel),
            limit=args.prompts,
        )
        judge = [
            {"method": "load", "params": {"path": str(responses)}},
            {"method": "judge.pointwise"},
        ]
        backend = RecordingBackend(parallel=args.parallel)
        judged = work / "judged.jsonl"
        elapsed = run(write_recipe(work / "judge.yaml", judge, args.parallel), judged, backend)
        records = [json.loads(line) for line in judged.read_text().splitlines()]
    ratings = sum(len(r["completions"]) for r in records)
    samples = sum(request.n for request in backend.sent)
    _, _, direct = replay(backend.sent, args.parallel, workers=args.parallel * 2)
    print(
        f"date: {time.strftime('%Y-%m-%d')}  machine: {platform.processor() or platform.machine()}"
    )
    print(
        f"workload: judge.pointwise, {ratings} responses ({args.prompts} prompts x "
        f"{args.per_prompt}), {len(backend.sent)} requests, {samples} samples, "
        f"{args.parallel} slots"
    )
    print(
        f"(a) synthaug pipeline     {ratings / elapsed:6.2f} ratings/s "
        f"{samples / elapsed:6.2f} samples/s"
    )
    print(
        f"(b) direct loop (replay)  {ratings / direct:6.2f} ratings/s "
        f"{samples / direct:6.2f} samples/s"
    )
    print(f"a/b = {direct / elapsed:.2f}  (target ≥ 0.9)")


if __name__ == "__main__":
    main()
