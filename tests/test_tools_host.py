"""The model itself as a translator: a host tool run through a synthaug backend (the
embedded model), never in the sandbox; its result recorded, and taken as stored by verify."""

from __future__ import annotations

import asyncio

from synthaug.llm.cache import RequestCache
from synthaug.llm.client import LLMClient
from synthaug.tools.execute import format_problems, run_calls
from synthaug.tools.host import TRANSLATE, Translator
from synthaug.verify.evidence import reverify, verdict
from synthaug.verify.sandbox import Sandbox

CALLS = [
    {"name": "translate", "arguments": {"text": "Good morning, my friend.",
                                        "target_language": "French"}},
    {"name": "translate", "arguments": {"text": "x" * 2001, "target_language": "German"}},
]  # fmt: skip


def test_translate_runs_on_the_model_and_verify_takes_the_stored_result(local_backend, tmp_path):
    client = LLMClient(local_backend, RequestCache(tmp_path / "cache.sqlite3"))
    sandbox = Sandbox()
    implementations = {"translate": TRANSLATE.implementation()}
    assert implementations["translate"]["host"] == "translate"  # no code to run anywhere
    assert format_problems(CALLS, [TRANSLATE.schema()]) == []
    translator = Translator(client, max_tokens=32)
    results, runs = asyncio.run(run_calls(sandbox, CALLS, implementations, translator))
    translation = results[0]["return"]["translation"]
    assert isinstance(translation, str) and translation
    assert results[1] == {"error": "ValueError: text longer than 2000 characters"}
    assert runs[0]["model"] and runs[0]["isolation"].startswith("host")
    assert sandbox.executions == 0  # nothing of a host tool runs in the sandbox
    again, _ = asyncio.run(run_calls(sandbox, CALLS, implementations, Translator(client, 32)))
    assert again == results and client.stats.cache_hits == 1  # a re-run asks the model nothing new
    record = verdict("tool_calls", False, tools=[TRANSLATE.schema()], calls=CALLS,
                     results=results, implementations=implementations, format_problems=[],
                     execution=runs, semantic={"passes": True})  # fmt: skip
    assert asyncio.run(reverify(record, sandbox))  # the stored result, taken as it is
    unbacked, _ = asyncio.run(run_calls(sandbox, CALLS[:1], implementations))
    assert unbacked == [{"error": "RuntimeError: translate needs a backend"}]
    bad = [{"name": "translate", "arguments": {"text": "hi"}}]
    unchecked, _ = asyncio.run(run_calls(sandbox, bad, implementations, translator))
    assert unchecked == [
        {"error": "TypeError: arguments: 'target_language' is a required property"}
    ]
    assert format_problems(bad, [TRANSLATE.schema()]) == [
        "call 1: translate: arguments: 'target_language' is a required property"
    ]


def test_apigen_execution_check_runs_translate_on_the_recipe_model(local_backend, tmp_path):
    from synthaug.engine.step import StepContext
    from synthaug.methods.tool_use.apigen import ExecutionCheck
    from synthaug.records import META
    from synthaug.tools.registry import load_tools

    assert "translate" not in [t.name for t in load_tools()]  # only when named
    [tool] = load_tools(["translate"])
    client = LLMClient(local_backend, RequestCache(tmp_path / "cache.sqlite3"))
    row = {META: {"id": "r1"}, "tool_calls": CALLS[:1],
           "tool_impl": {"translate": tool.implementation()}}  # fmt: skip
    ctx = StepContext(llm=client, run_seed=0, step_name="execute")
    [done] = asyncio.run(ExecutionCheck().process(row, ctx))
    assert done["tool_results"][0]["translation"] and client.stats.model_calls == 1
    assert done["execution"][0]["isolation"].startswith("host")
