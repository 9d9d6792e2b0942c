"""Does llama.cpp's prompt cache pay on synthaug's prompt-heavy workloads?

Two Self-Instruct workloads, replayed on the llama.cpp engine (8 slots) with
``cache_prompt`` on (the backend's setting: each slot keeps its last prompt's KV and the
server hands a request to the idle slot whose cached prompt it shares most, by
similarity) and off (every prompt evaluated in full):
- classify: the 175 seed instructions behind one fixed 12-demo header (the same prefix);
- bootstrap: 64 task-generation prompts, each with 8 randomly sampled seed tasks (only the
  first line is shared).
Reported per workload: the share of each prompt identical to the previous one (characters),
prompt tokens evaluated vs sent, seconds in prompt evaluation and wall seconds.

    python benchmarks/bench_prefix_cache.py
"""

from __future__ import annotations

import itertools
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

from synthaug.llm.backend import wire_body
from synthaug.llm.local import LocalBackend
from synthaug.llm.types import ChatRequest, chat
from synthaug.methods.instruct import self_instruct
from synthaug.methods.instruct.self_instruct import Bootstrap, Classify, load_seed_tasks
from synthaug.methods.templates import render

SLOTS = 8


def classify_requests() -> list[ChatRequest]:
    step = Classify()
    tasks = load_seed_tasks(None)
    template = "self_instruct_classify.j2"
    return [
        chat(
            ("user", render(self_instruct.__file__, template, demos=step.demos, instruction=t)),
            temperature=0,
            max_tokens=32,
        )
        for t in (task["instruction"] for task in tasks)
    ]


def bootstrap_requests(count: int = 64) -> list[ChatRequest]:
    step = Bootstrap()
    seeds = [t["instruction"] for t in load_seed_tasks(None)]
    rng = random.Random(0)
    return [step.request(rng.sample(seeds, 8), seed) for seed in range(count)]


def shared_prefix(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def shared_share(requests: list[ChatRequest]) -> float:
    """Mean share of each prompt's characters that open the previous prompt too."""
    texts = [r.prompt or r.messages[-1]["content"] for r in requests]
    shares = [shared_prefix(a, b) / len(b) for a, b in itertools.pairwise(texts)]
    return sum(shares) / len(shares)


def replay(requests: list[ChatRequest], cache_prompt: bool) -> dict[str, float]:
    server = LocalBackend(parallel=SLOTS)._load()

    def one(request: ChatRequest) -> tuple[int, int, float]:
        body = wire_body(request, model=None, schema_style="llamacpp")
        body["cache_prompt"] = cache_prompt
        handler = server.handle_chat_completions if request.is_chat else server.handle_completions
        reply = handler(body)
        timings = reply["timings"]
        return reply["usage"]["prompt_tokens"], timings["prompt_n"], timings["prompt_ms"]

    started = time.monotonic()
    with ThreadPoolExecutor(SLOTS * 2) as pool:
        results = list(pool.map(one, requests))
    return {
        "sent": sum(r[0] for r in results),
        "evaluated": sum(r[1] for r in results),
        "prompt_s": sum(r[2] for r in results) / 1000,
        "wall_s": time.monotonic() - started,
    }


def main() -> None:
    print(f"date: {time.strftime('%Y-%m-%d')}  slots: {SLOTS}  cores: {os.cpu_count()}")
    for name, requests in (("classify", classify_requests()), ("bootstrap", bootstrap_requests())):
        print(
            f"{name}: {len(requests)} requests, {shared_share(requests):.0%} shared with the last"
        )
        for cache_prompt in (True, False):
            r = replay(requests, cache_prompt)
            print(
                f"  cache_prompt={cache_prompt!s:5}  prompt tokens evaluated {r['evaluated']:>7,} "
                f"of {r['sent']:>7,}  prompt eval {r['prompt_s']:6.1f} s (summed over slots)  "
                f"wall {r['wall_s']:6.1f} s"
            )


if __name__ == "__main__":
    main()
