"""The batched local backend (OpenVINO GenAI) on the real embedded GGUF.

Covers every ChatRequest feature through one shared engine, the same records and ``_meta``
as the llama.cpp backend when a recipe switches with ``--backend`` only, and a run killed
with SIGKILL that resumes with the same records and no repeated model calls.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import YES_NO_SCHEMA, read_jsonl, resume_after_kill, run_cli

from synthaug.llm.client import LLMClient
from synthaug.llm.local import LocalBackend
from synthaug.llm.openvino import OpenVINOBackend, compute_precision, cut_at_stop
from synthaug.llm.registry import build_backend
from synthaug.llm.types import ChatRequest, chat

FAST = ["--set", "steps[0].params.max_tokens=160", "--set", "steps[0].params.requests_in_flight=8"]


@pytest.fixture(scope="module")
def engine():
    backend = OpenVINOBackend(max_num_seqs=16, kv_cache_gb=1)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(backend.start())
    yield backend, loop
    loop.run_until_complete(backend.close())
    loop.close()


def answers(engine, *requests: ChatRequest):
    backend, loop = engine
    client = LLMClient(backend)

    async def go():
        return await asyncio.gather(*(client.complete(r) for r in requests))

    return loop.run_until_complete(go())


def test_cut_at_stop_keeps_the_text_before_the_earliest_stop():
    assert cut_at_stop("1. a\n2. b\n3.", ("3.", "2.")) == ("1. a\n", True)
    assert cut_at_stop("no stop here", ("###",)) == ("no stop here", False)


def test_precision_is_f32_on_a_cpu_without_amx_and_left_to_the_gpu_plugin():
    assert compute_precision("CPU", {"avx512f", "avx512_bf16", "avx512_vnni"}) == "f32"
    assert compute_precision("CPU", {"amx_bf16", "amx_tile", "avx512_bf16"}) == "bf16"
    assert compute_precision("GPU", {"amx_bf16"}) is None


def test_a_local_recipe_switches_to_openvino_with_its_options_ignored():
    backend = build_backend("openvino", {"parallel": 8, "deterministic": True})
    assert isinstance(backend, OpenVINOBackend)
    assert backend.deterministic and backend.max_concurrency == 1


def test_chat_raw_schema_grammar_stop_and_samples(engine):
    backend, _ = engine
    text, raw, structured, grammar, stopped, three, greedy_two = answers(
        engine,
        chat(("user", "Name a colour."), max_tokens=12, temperature=0),
        ChatRequest(prompt="1. Write a poem.\n2.", max_tokens=12, temperature=0),
        chat(("user", "Is fire hot?"), max_tokens=48, temperature=0, json_schema=YES_NO_SCHEMA),
        chat(("user", "Is ice cold?"), max_tokens=4, grammar='root ::= "Yes" | "No"'),
        chat(("user", "Describe the sea."), max_tokens=40, temperature=0, stop=("e",)),
        chat(("user", "Say a word."), max_tokens=8, n=3, temperature=1, seed=4),
        chat(("user", "Say a word."), max_tokens=8, n=2, temperature=0),
    )
    assert text.text.strip() and raw.text.strip()
    assert text.usage.prompt_tokens > 10 and 0 < text.usage.completion_tokens <= 12
    assert json.loads(structured.text)["answer"] in ("Yes", "No")
    assert grammar.text in ("Yes", "No") and grammar.choices[0].finish_reason == "stop"
    assert "e" not in stopped.text and stopped.choices[0].finish_reason == "stop"
    assert len(three.choices) == 3 and all(c.text for c in three.choices)
    assert len({c.text for c in greedy_two.choices}) == 1 and len(greedy_two.choices) == 2
    assert backend.describe().startswith("openvino:SmolLM2") and "(CPU, " in backend.describe()


def test_a_forced_continuation_is_scored_and_top_k_comes_from_llamacpp(engine):
    forced, alternatives = answers(
        engine,
        chat(("user", "Colour?"), max_tokens=12, logprobs=True, grammar='root ::= "Blue sky."'),
        chat(("user", "Hi"), max_tokens=4, logprobs=True, top_logprobs=3),
    )
    scored = forced.choices[0].logprobs
    assert forced.text == "Blue sky." and "".join(t.token for t in scored) == "Blue sky."
    # raw log-probabilities, not the grammar's mask (which would make every forced token 0)
    assert all(t.logprob <= 0 for t in scored) and min(t.logprob for t in scored) < -0.5
    first = alternatives.choices[0].logprobs[0]
    assert len(first.top_logprobs) == 3 and first.logprob <= 0


def test_deterministic_mode_repeats_a_seeded_sample():
    backend = OpenVINOBackend(deterministic=True, kv_cache_gb=1)
    request = chat(("user", "Tell me a story."), max_tokens=24, temperature=1, seed=11)

    async def twice():
        try:
            return [await LLMClient(backend).complete(request) for _ in range(2)]
        finally:
            await backend.close()

    first, second = asyncio.run(twice())
    assert first.text and first.text == second.text


def test_missing_model_is_one_line(tmp_path):
    missing = tmp_path / "none.gguf"
    result = run_cli(
        "run",
        "self_instruct",
        "--backend",
        "openvino",
        "--model",
        str(missing),
        "--out",
        str(tmp_path / "d.jsonl"),
        cwd=tmp_path,
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert str(missing) in result.stderr


def test_same_records_and_meta_as_the_llamacpp_backend(tmp_path):
    args = ["self_instruct", "--set", "steps[0].params.num_instructions=4", *FAST, "--quiet"]
    shapes = {}
    for name in ("local", "openvino"):
        out = tmp_path / name / "data.jsonl"
        env = {"SYNTHAUG_CACHE": str(tmp_path / name / "cache.sqlite3")}
        done = run_cli("run", *args, "--backend", name, "--out", str(out), cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        records = read_jsonl(out)
        assert records
        shapes[name] = {(frozenset(r), frozenset(r["_meta"])) for r in records}
    assert shapes["local"] == shapes["openvino"]


def test_kill_9_mid_run_then_resume_on_openvino(tmp_path):
    args = ["self_instruct", "--set", "steps[0].params.num_instructions=12", *FAST]
    _, summary, paid_before_kill = resume_after_kill(
        tmp_path, *args, "--backend", "openvino", after_calls=20
    )
    # resume_after_kill checks that no paid answer is asked for again; the killed run's work
    # comes back as cache hits or, for map steps that flushed a checkpoint, as reused rows.
    assert paid_before_kill >= 20
    assert summary["steps"][0]["rows_out"] == 12


def test_identity_differs_from_the_llamacpp_backend_on_the_same_file():
    same_file = lambda path: "h"  # noqa: E731 - one hash for any path
    assert OpenVINOBackend().identity(same_file) != LocalBackend().identity(same_file)
