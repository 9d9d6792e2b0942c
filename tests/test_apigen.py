"""APIGen: sampled functions, generated calls, the three checks as row errors with reasons,
the recipe end to end on the embedded model, and ``synthaug verify`` re-running every call."""

from __future__ import annotations

import asyncio
import copy
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, summary_of

from synthaug.engine.resources import RunResources
from synthaug.engine.step import RowError, StepContext
from synthaug.errors import InputError
from synthaug.methods.tool_use.apigen import (
    STYLES,
    Answer,
    ExecutionCheck,
    FormatCheck,
    Generate,
    Sample,
    SemanticCheck,
    parse_calls,
    reply_schema,
)
from synthaug.records import META
from synthaug.tools.registry import builtin_tools
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

TOOLS = {tool.name: tool for tool in builtin_tools()}
CHECKS = {"malformed_output", "malformed_call", "format", "execution", "semantic",
          "malformed_judgement"}  # fmt: skip


def context(llm=None) -> StepContext:
    return StepContext(
        llm=llm, run_seed=0, step_name="t", resources=RunResources(sandbox=Sandbox())
    )


def row(style: str, names: list[str], calls: list[dict], results: list | None = None) -> dict:
    return {
        "query": "How many days from 2024-01-01 to 2024-03-01, and what is 2**10?",
        "query_style": style,
        "tools": [TOOLS[n].schema() for n in names],
        "tool_calls": calls,
        "tool_results": results or [],
        "tool_impl": {n: TOOLS[n].implementation() for n in names},
        META: {"id": "row-1", "parents": [], "step": "t", "method": "t"},
    }


def fails(step, record, ctx=None) -> RowError:
    with pytest.raises(RowError) as raised:
        asyncio.run(step.process(record, ctx or context()))
    return raised.value


def test_sample_follows_the_query_styles():
    step = Sample(count=50, max_offered=3, max_calls=3)
    for index in range(50):
        style = STYLES[index % len(STYLES)]
        offered, targets, calls = step.pick(style, random.Random(index))
        names, used = {t.name for t in offered}, {t.name for t in targets}
        if style == "irrelevance":
            assert calls == 0 and not used & names and 2 <= len(offered) <= 3
        elif style in ("simple", "multiple"):
            assert calls == 1 and len(used) == 1 and used <= names
            assert len(offered) == (1 if style == "simple" else len(offered)) >= 1
        else:
            assert 2 <= calls <= 3 and used <= names and calls >= len(used)
        if style == "multiple":
            assert len(offered) >= 2
        if style == "parallel_multiple":
            assert len(used) >= 2
    with pytest.raises(InputError, match="need at least 2 tools, 1 given"):
        Sample(builtins=["calculate"], styles=["simple", "irrelevance"])
    assert (
        Sample(builtins=["calculate"], styles=["simple", "parallel"]).tools[0].name == "calculate"
    )


def test_reply_schema_constrains_as_asked():
    targets = [TOOLS["calculate"].schema(), TOOLS["day_of_week"].schema()]
    shape = reply_schema(targets, 2, "shape", 100)["properties"]["tool_calls"]
    assert shape["minItems"] == shape["maxItems"] == 2
    assert shape["items"]["properties"]["name"] == {"type": "string"}
    names = reply_schema(targets, 1, "names", 100)["properties"]["tool_calls"]["items"]
    assert names["properties"]["name"] == {"enum": ["calculate", "day_of_week"]}
    strict = reply_schema(targets, 1, "arguments", 100)["properties"]["tool_calls"]["items"]
    assert [o["properties"]["arguments"] for o in strict["anyOf"]] == [
        TOOLS["calculate"].parameters, TOOLS["day_of_week"].parameters
    ]  # fmt: skip
    assert "tool_calls" not in reply_schema(targets, 0, "shape", 100)["properties"]


def test_malformed_calls_are_row_errors_with_reasons():
    decoded = parse_calls([{"name": "f", "arguments": '{"x": 1}'}, {"name": "g", "arguments": {}}])
    assert decoded == [{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}]
    cases = [
        ("not a list", "tool_calls is not a list"),
        ([{"arguments": {}}], "call 1 has no function name"),
        ([{"name": "f", "arguments": "{oops"}], "call 1 (f): arguments are not a JSON object"),
        ([{"name": "f", "arguments": [1]}], "call 1 (f): arguments are not a JSON object"),
    ]
    for value, reason in cases:
        with pytest.raises(RowError) as raised:
            parse_calls(value)
        assert raised.value.kind == "malformed_call" and reason in str(raised.value)


def test_format_check_names_each_bad_call():
    good = {"name": "days_between", "arguments": {"start": "2024-01-01", "end": "2024-03-01"}}
    record = row("multiple", ["days_between", "calculate"], [good])
    assert asyncio.run(FormatCheck().process(record, context()))[0]["tool_calls"] == [good]
    bad = [good, {"name": "calculator", "arguments": {}},
           {"name": "calculate", "arguments": {"expression": 1024}}]  # fmt: skip
    error = fails(FormatCheck(), row("parallel_multiple", ["days_between", "calculate"], bad))
    assert error.kind == "format"
    assert str(error) == (
        "call 2: calculator: no such tool (offered: days_between, calculate); "
        "call 3: calculate: arguments.expression: 1024 is not of type 'string'"
    )


def test_execution_check_runs_in_the_sandbox_and_fails_with_the_error():
    calls = [
        {"name": "days_between", "arguments": {"start": "2024-01-01", "end": "2024-03-01"}},
        {"name": "calculate", "arguments": {"expression": "2**10"}},
    ]
    (done,) = asyncio.run(ExecutionCheck().process(row("parallel", ["days_between", "calculate"],
                                                       calls), context()))  # fmt: skip
    assert done["tool_results"] == [60, {"exact": "1024", "decimal": "1024"}]
    assert [r["status"] for r in done["execution"]] == ["ok", "ok"]
    calls[0]["arguments"]["end"] = "March 1st"
    error = fails(ExecutionCheck(), row("parallel", ["days_between", "calculate"], calls))
    assert error.kind == "execution"
    assert (
        str(error) == "call 1 days_between: ValueError: not a date in YYYY-MM-DD form: 'March 1st'"
    )


def judge(reply: str, finish_reason: str = "stop"):
    """A client answering every request with ``reply`` (for the parsing of replies only)."""

    async def complete(request):
        return SimpleNamespace(text=reply, choices=[SimpleNamespace(finish_reason=finish_reason)])

    return SimpleNamespace(
        complete=complete, key=lambda request: "key", backend=SimpleNamespace(describe=lambda: "j")
    )


def test_generate_turns_bad_replies_into_row_errors():
    record = row("parallel", ["calculate"], [])
    record |= {"target_tools": record["tools"], "call_count": 2}
    cut = fails(Generate(), record, context(judge('{"query": "What is', "length")))
    assert cut.kind == "malformed_output" and "(cut off at max_tokens)" in str(cut)
    empty = fails(Generate(), record, context(judge('{"query": " ", "tool_calls": []}')))
    assert empty.kind == "malformed_output" and "no query" in str(empty)
    bad = fails(Generate(), record, context(judge('{"query": "2+2?", "tool_calls": [7]}')))
    assert bad.kind == "malformed_call" and "call 1 has no function name" in str(bad)
    reply = (
        '{"query": "2+2 and 3+3?", "tool_calls": [{"name": "calculate", "arguments": '
        '{"expression": "2+2"}}, {"name": "calculate", "arguments": {"expression": "3+3"}}]}'
    )
    (made,) = asyncio.run(Generate().process(record, context(judge(reply))))
    assert made["query"] == "2+2 and 3+3?" and [c["arguments"] for c in made["tool_calls"]] == [
        {"expression": "2+2"}, {"expression": "3+3"}
    ]  # fmt: skip
    irrelevant = {**record, "query_style": "irrelevance", "call_count": 0}
    (made,) = asyncio.run(Generate().process(irrelevant, context(judge('{"query": "Hi there"}'))))
    assert made["tool_calls"] == []


def test_semantic_check_keeps_only_a_yes_and_stores_re_checkable_evidence():
    calls = [{"name": "calculate", "arguments": {"expression": "2**10"}}]
    result = {"exact": "1024", "decimal": "1024"}
    record = row("simple", ["calculate"], calls, [result])
    no = fails(SemanticCheck(), record, context(judge('{"thought": "wrong sum", "passes": "no"}')))
    assert no.kind == "semantic" and str(no) == "the judge says no: wrong sum"
    garbled = fails(SemanticCheck(), record, context(judge('{"thought": "')))
    assert garbled.kind == "malformed_judgement"
    (kept,) = asyncio.run(
        SemanticCheck().process(record, context(judge('{"thought": "ok", "passes": "yes"}')))
    )
    assert "tool_impl" not in kept and "execution" not in kept
    assert kept["messages"][1]["tool_calls"][0]["function"] == {
        "name": "calculate", "arguments": '{"expression": "2**10"}'
    }  # fmt: skip
    assert kept["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "name": "calculate",
                                   "content": json.dumps(result)}  # fmt: skip
    evidence = kept["verification"]
    assert evidence["kind"] == "tool_calls" and evidence["verified"] is True
    sandbox = Sandbox()
    assert asyncio.run(reverify(evidence, sandbox)) is True
    forged = copy.deepcopy(evidence)
    forged["results"][0]["return"]["exact"] = "1025"
    assert asyncio.run(reverify(forged, sandbox)) is False
    invalid = copy.deepcopy(evidence)
    invalid["calls"][0]["arguments"] = {"expression": 2}
    assert asyncio.run(reverify(invalid, sandbox)) is False


@pytest.fixture(scope="module")
def apigen_run(tmp_path_factory) -> SimpleNamespace:
    """One small APIGen run on the embedded model (one row per query style), killed with
    SIGKILL after 3 answers and resumed (``resume_after_kill`` checks the resume). One slot,
    one thread: llama.cpp's samples depend on batching and the thread count."""
    cwd = tmp_path_factory.mktemp("apigen")
    args = ["--set", "steps[0].params.count=5", "--set", "seed=1",  # 4 kept, 1 failed
            "--set", "backend.deterministic=true", "--set", "backend.threads=1"]  # fmt: skip
    records = resume_after_kill(cwd, "apigen", *args, after_calls=3)[0]
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    return SimpleNamespace(cwd=cwd, out=cwd / "data.jsonl", env=env, records=records)


def test_apigen_recipe_keeps_only_verified_calls(apigen_run):
    records, summary = apigen_run.records, summary_of(apigen_run.out)
    assert records, "no verified record"
    for record in records:
        evidence = record["verification"]
        assert evidence["kind"] == "tool_calls" and evidence["verified"] is True
        assert evidence["calls"] == record["tool_calls"]
        assert [r["return"] for r in evidence["results"]] == record["tool_results"]
        offered = {t["function"]["name"] for t in record["tools"]}
        assert {c["name"] for c in record["tool_calls"]} <= offered
        assert (record["query_style"] == "irrelevance") == (record["tool_calls"] == [])
        assert record["messages"][0] == {"role": "user", "content": record["query"]}
        final = record["messages"][-1]  # apigen.answer: the model's own final turn
        assert final["role"] == "assistant" and final["content"] and "tool_calls" not in final
        assert final["content"] != SemanticCheck.Params().irrelevance_reply
        assert all(r["isolation"].startswith("bwrap") for r in evidence["execution"])
    failed = read_jsonl(apigen_run.out.with_name("data.errors.jsonl"))
    assert len(failed) + len(records) == 5
    assert all(f[META]["error"]["kind"] in CHECKS and f[META]["error"]["message"] for f in failed)
    steps = {s["name"]: s for s in summary["steps"]}
    assert steps["semantic"]["rows_out"] == len(records)


def test_verify_re_runs_every_call_and_agrees(apigen_run):
    done = run_cli("verify", str(apigen_run.out), "--json", cwd=apigen_run.cwd, env=apigen_run.env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == len(apigen_run.records) == report["agreed"]
    assert report["agreement"] == 1.0 and report["by_kind"]["tool_calls"]["agreed"] >= 1


def test_export_writes_tool_turns_and_tools(apigen_run):
    out = apigen_run.cwd / "sft.jsonl"
    done = run_cli("export", str(apigen_run.out), "--format", "sft", "-o", str(out),
                   cwd=apigen_run.cwd)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(out)
    assert len(rows) == len(apigen_run.records)
    for exported, record in zip(rows, apigen_run.records, strict=True):
        assert json.loads(exported["tools"]) == record["tools"]
        assert exported["messages"] == record["messages"]


def test_bad_tool_file_in_the_recipe_is_one_line(tmp_path: Path):
    (tmp_path / "bad.py").write_text("def f(:\n")
    done = run_cli("run", "apigen", "--out", str(tmp_path / "d.jsonl"), "--set",
                   f'steps[0].params.python_files=["{tmp_path / "bad.py"}"]', cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"synthaug: error: {tmp_path / 'bad.py'}:1: not Python: invalid syntax"
    ]


def test_answer_step_writes_the_final_turn_from_the_results():
    calls = [{"name": "calculate", "arguments": {"expression": "2**10"}}]
    result = {"exact": "1024", "decimal": "1024"}
    record = row("simple", ["calculate"], calls, [result])
    record["messages"] = SemanticCheck().messages(record)
    client = judge(" It is 1024. ")
    (done,) = asyncio.run(Answer().process(record, context(client)))
    assert done["messages"] == [
        *record["messages"],
        {"role": "assistant", "content": "It is 1024."},
    ]
    irrelevant = row("irrelevance", ["calculate"], [])
    irrelevant["messages"] = SemanticCheck().messages(irrelevant)  # user, the fixed reply
    (done,) = asyncio.run(Answer().process(irrelevant, context(judge("I cannot translate."))))
    assert done["messages"] == [irrelevant["messages"][0],
                                {"role": "assistant", "content": "I cannot translate."}]  # fmt: skip
    assert fails(Answer(), record, context(judge("  "))).kind == "empty_answer"
