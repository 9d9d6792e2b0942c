"""Self-Instruct throughput: synthaug's pipeline vs a direct loop vs one sequential stream.

(a) synthaug runs the Self-Instruct recipe (fresh cache) and records every
    request it sends;
(b) a minimal direct loop replays exactly those requests against a fresh
    llama.cpp engine with the same slots, all submitted at once from a thread
    pool (its best case: no dependencies between requests, no cache, no I/O);
(c) one sequential stream replays them all, one at a time.
Reported: generated (completion) tokens per second for each, and the ratios.
Targets (issue 2): a/b ≥ 0.9 and a/c ≥ 1.8.

    python benchmarks/bench_throughput.py [--instructions 30] [--parallel 8]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from synthaug.engine.resources import RunResources
from synthaug.llm.backend import wire_body
from synthaug.llm.client import LLMClient
from synthaug.llm.local import LocalBackend
from synthaug.llm.types import ChatRequest, Completion
from synthaug.recipe import build_pipeline, load_recipe


class RecordingBackend(LocalBackend):
    """The local backend, remembering every request it is sent."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> Completion:
        self.sent.append(request)
        return await super().complete(request)


def run_pipeline(
    recipe_name: str, overrides: list[str], parallel: int, workdir: Path, limit: int | None = None
) -> tuple[float, list[ChatRequest]]:
    """Generated tokens/s of a built-in recipe on a fresh engine, and every request it sent."""
    recipe = load_recipe(recipe_name, [*overrides, f"backend.parallel={parallel}"])
    backend = RecordingBackend(parallel=parallel)
    client = LLMClient(backend, cache=None)

    async def go():
        await backend.start()
        started = time.monotonic()
        await build_pipeline(recipe).run(
            out=workdir / "data.jsonl",
            run_dir=workdir / "run",
            resources=RunResources(llm=client),
            limit=limit,
            progress=False,
        )
        elapsed = time.monotonic() - started
        await backend.close()
        return elapsed

    elapsed = asyncio.run(go())
    return client.stats.completion_tokens / elapsed, backend.sent


def replay(requests: list[ChatRequest], parallel: int, workers: int) -> tuple[float, float, float]:
    """Send ``requests`` straight to a fresh engine from ``workers`` threads.

    Returns generated tokens/s, the share of engine time spent evaluating
    prompts (llama.cpp's own per-request timings) and the seconds it took.
    """
    engine = LocalBackend(parallel=parallel)
    server = engine._load()

    def one(request: ChatRequest) -> tuple[int, float, float]:
        body = wire_body(request, model=None, schema_style="llamacpp")
        handler = server.handle_chat_completions if request.is_chat else server.handle_completions
        reply = handler(body)
        timings = reply["timings"]
        return reply["usage"]["completion_tokens"], timings["prompt_ms"], timings["predicted_ms"]

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, requests))
    elapsed = time.monotonic() - started
    prompt_ms = sum(r[1] for r in results)
    prompt_share = prompt_ms / (prompt_ms + sum(r[2] for r in results))
    return sum(r[0] for r in results) / elapsed, prompt_share, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"steps[0].params.num_instructions={args.instructions}"]
        pipeline_tps, sent = run_pipeline("self_instruct", overrides, args.parallel, Path(tmp))
    direct_tps, _, _ = replay(sent, args.parallel, workers=args.parallel * 2)
    sequential_tps, prompt_share, _ = replay(sent, 1, workers=1)
    print(
        f"date: {time.strftime('%Y-%m-%d')}  machine: {platform.processor() or platform.machine()}"
    )
    print(
        f"workload: Self-Instruct, {args.instructions} instructions, {len(sent)} requests, {args.parallel} slots"
    )
    print(f"(a) synthaug pipeline     {pipeline_tps:7.1f} generated tok/s")
    print(f"(b) direct loop (replay)  {direct_tps:7.1f} generated tok/s")
    print(
        f"(c) one sequential stream {sequential_tps:7.1f} generated tok/s ("
        f"{prompt_share:.0%} of its time evaluating prompts)"
    )
    print(f"a/b = {pipeline_tps / direct_tps:.2f}  (target ≥ 0.9)")
    print(f"a/c = {pipeline_tps / sequential_tps:.2f}  (target ≥ 1.8)")


if __name__ == "__main__":
    main()
