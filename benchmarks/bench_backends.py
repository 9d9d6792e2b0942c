"""Self-Instruct on each local backend, side by side: generated tokens per second.

(a) the recipe on the llama.cpp backend (``local``, 8 slots), fresh cache;
(b) the recipe on the batched backend (``openvino``), fresh cache, same seeds;
(c) the batched engine's own bare loop: every request (b) sent, tokenised and configured as
    the backend does, all added to a fresh ``ContinuousBatchingPipeline`` at once and
    stepped to the end (its ceiling: no dependencies between requests, no asyncio, no I/O);
(d) one sequential stream on that engine: the first ``--sequential`` of those requests,
    one at a time;
(e) JSON-schema overhead: the same chat prompts with and without a schema on the bare engine.
Targets (issue 20): b/a >= 3 and b/c >= 0.9. Also printed: CPU model and the flags that
decide the precision (AMX, AVX-512-BF16, VNNI), the device and precision chosen.

    python benchmarks/bench_backends.py [--instructions 50] [--sequential 24]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import openvino_genai

from synthaug.engine.resources import RunResources
from synthaug.llm.backend import Backend
from synthaug.llm.client import LLMClient
from synthaug.llm.local import LocalBackend
from synthaug.llm.openvino import OpenVINOBackend, cpu_flags
from synthaug.llm.types import ChatRequest, chat, object_schema
from synthaug.recipe import build_pipeline, load_recipe

FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f")


def run_recipe(backend: Backend, instructions: int, workdir: Path) -> tuple[float, list]:
    """Generated tok/s of the Self-Instruct recipe on ``backend``, and the requests it sent."""
    recipe = load_recipe("self_instruct", [f"steps[0].params.num_instructions={instructions}"])
    sent: list[ChatRequest] = []
    complete = backend.complete

    async def recording(request: ChatRequest):
        sent.append(request)
        return await complete(request)

    backend.complete = recording  # type: ignore[method-assign]
    client = LLMClient(backend, cache=None)

    async def go() -> float:
        await backend.start()
        started = time.monotonic()
        await build_pipeline(recipe).run(
            out=workdir / "data.jsonl",
            run_dir=workdir / "run",
            resources=RunResources(llm=client),
            progress=False,
        )
        elapsed = time.monotonic() - started
        await backend.close()
        return elapsed

    elapsed = asyncio.run(go())
    return client.stats.completion_tokens / elapsed, sent


def bare_loop(requests: list[ChatRequest], one_at_a_time: bool = False) -> tuple[float, int]:
    """Generated tok/s of ``requests`` on a fresh engine driven by its own add/step loop."""
    backend = OpenVINOBackend()
    asyncio.run(backend.start())
    pipeline, running = backend.pipeline, openvino_genai.GenerationStatus.RUNNING
    prepared = [backend.prepare(request) for request in requests]
    batches = [[p] for p in prepared] if one_at_a_time else [prepared]
    generated, started = 0, time.monotonic()
    for batch in batches:
        handles = [pipeline.add_request(i, ids, config) for i, (ids, config) in enumerate(batch)]
        while any(h.get_status() == running for h in handles):
            pipeline.step()
        generated += sum(len(o.generated_ids) for h in handles for o in h.read_all())
    elapsed = time.monotonic() - started
    asyncio.run(backend.close())
    return generated / elapsed, generated


def schema_overhead(prompts: int = 32) -> tuple[float, float]:
    """Bare-engine tok/s of the same chat prompts, free and under a JSON schema."""
    schema = object_schema({"name": {"type": "string"}, "reason": {"type": "string"}})
    topics = ["a river", "a city", "a tool", "a bird", "a song", "a game", "a tree", "a boat"]
    free = [
        chat(("user", f"Name {t} and say why it matters ({i})."), max_tokens=96, temperature=0)
        for i, t in enumerate(topics * (prompts // len(topics)))
    ]
    constrained = [r.model_copy(update={"json_schema": schema}) for r in free]
    return bare_loop(free)[0], bare_loop(constrained)[0]


def describe_cpu() -> str:
    model = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    flags = cpu_flags()
    present = ", ".join(f for f in FLAGS if f in flags) or "none of " + ", ".join(FLAGS)
    return f"{model}; flags: {present}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=50)
    parser.add_argument("--sequential", type=int, default=24)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["a"], sent_a = run_recipe(
            LocalBackend(parallel=8), args.instructions, Path(tmp, "a")
        )
        batched = OpenVINOBackend()
        results["b"], sent = run_recipe(batched, args.instructions, Path(tmp, "b"))
    results["c"], _ = bare_loop(sent)
    results["d"], _ = bare_loop(sent[: args.sequential], one_at_a_time=True)
    free, constrained = schema_overhead()
    print(f"date: {time.strftime('%Y-%m-%d')}  cpu: {describe_cpu()}")
    print(f"batched backend: {batched.describe()}")
    print(
        f"workload: Self-Instruct, {args.instructions} instructions; "
        f"{len(sent_a)} requests on llama.cpp, {len(sent)} on the batched backend"
    )
    print(f"(a) llama.cpp backend (8 slots)   {results['a']:7.1f} generated tok/s")
    print(f"(b) batched backend (openvino)    {results['b']:7.1f} generated tok/s")
    print(f"(c) engine's bare batched loop    {results['c']:7.1f} generated tok/s")
    print(f"(d) one sequential stream ({args.sequential:>3})   {results['d']:7.1f} generated tok/s")
    print(f"b/a = {results['b'] / results['a']:.2f}  (target >= 3)")
    print(f"b/c = {results['b'] / results['c']:.2f}  (target >= 0.9)")
    print(f"b/d = {results['b'] / results['d']:.2f}")
    print(
        f"(e) JSON schema on the bare engine: {constrained:.1f} vs {free:.1f} tok/s free "
        f"({constrained / free:.2f}x)"
    )


if __name__ == "__main__":
    main()
