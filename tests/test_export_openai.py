"""``synthaug export --format openai``: OpenAI's chat fine-tuning JSONL with function calling,
from APIGen-shaped records whose calls were executed for real in the sandbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from conftest import read_jsonl, run_cli, write_jsonl

from synthaug.methods.tool_use.apigen import SemanticCheck
from synthaug.records import META
from synthaug.tools.execute import run_calls
from synthaug.tools.registry import load_tools
from synthaug.verify.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
MESSAGE_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id", "weight"}


def apigen_record(style: str, names: list[str], calls: list[dict], index: int) -> dict:
    """A record as APIGen's last step writes it, its calls run in the sandbox."""
    tools = {t.name: t for t in load_tools(names)}
    implementations = {name: tool.implementation() for name, tool in tools.items()}
    results, runs = asyncio.run(run_calls(Sandbox(), calls, implementations))
    assert all("return" in r for r in results), results
    row = {
        "query": f"question {index}", "query_style": style,
        "tools": [t.schema() for t in tools.values()], "tool_calls": calls,
        "tool_results": [r["return"] for r in results], "tool_impl": implementations,
        "execution": runs, META: {"id": f"row-{index}", "parents": [], "step": "s", "method": "m"},
    }  # fmt: skip
    semantic = {"passes": True, "thought": "fine", "judge": "test"}
    step = SemanticCheck()
    fields = {"semantic": semantic, "verification": step.evidence(row, semantic),
              "messages": step.messages(row)}  # fmt: skip
    return {k: v for k, v in {**row, **fields}.items() if k not in ("tool_impl", "execution")}


def check_openai_line(line: dict) -> None:
    """The checks of OpenAI's published format (cookbook's data validation, tool calling)."""
    assert set(line) <= {"messages", "tools"}
    ids = set()
    for message in line["messages"]:
        assert set(message) <= MESSAGE_KEYS and message["role"] in (
            "system", "user", "assistant", "tool")  # fmt: skip
        for call in message.get("tool_calls", []):
            assert set(call) == {"id", "type", "function"} and call["type"] == "function"
            assert isinstance(json.loads(call["function"]["arguments"]), dict)
            ids.add(call["id"])
        if message["role"] == "tool":
            assert message["tool_call_id"] in ids and isinstance(message["content"], str)
        elif "tool_calls" not in message:
            assert isinstance(message["content"], str)
    assert any(m["role"] == "assistant" for m in line["messages"])
    assert line["messages"][-1]["role"] != "tool"
    for tool in line.get("tools", []):
        assert tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"


def test_export_openai_writes_function_calling_lines(tmp_path):
    dates = [{"name": "days_between", "arguments": {"start": "2024-01-01", "end": "2024-03-01"}},
             {"name": "calculate", "arguments": {"expression": "60 * 24"}}]  # fmt: skip
    parallel = apigen_record("parallel_multiple", ["days_between", "calculate"], dates, 1)
    simple = apigen_record(
        "simple", ["day_of_week"], [{"name": "day_of_week", "arguments": {"date": "2024-07-04"}}], 2
    )
    source = write_jsonl(tmp_path / "data.jsonl", [parallel, simple])
    # an assistant answer after the results, as a multi-turn record has
    answered = {**simple, "messages": [*simple["messages"],
                                       {"role": "assistant", "content": "A Thursday."}]}  # fmt: skip
    write_jsonl(tmp_path / "answered.jsonl", [answered])
    out = tmp_path / "fc.jsonl"
    done = run_cli("export", str(source), "--format", "openai", "-o", str(out), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "2 openai records (conversational)" in done.stdout
    first, second = read_jsonl(out)
    for line in (first, second):
        check_openai_line(line)
    assert first["tools"] == parallel["tools"]  # a list of objects, not a JSON string
    (user, assistant) = first["messages"]  # the tool turns after it train nothing
    assert user == {"role": "user", "content": "question 1"}
    assert "content" not in assistant
    called = [(c["function"]["name"], json.loads(c["function"]["arguments"]))
              for c in assistant["tool_calls"]]  # fmt: skip
    assert called == [(c["name"], c["arguments"]) for c in dates]
    answered_out = tmp_path / "answered-fc.jsonl"
    done = run_cli("export", str(tmp_path / "answered.jsonl"), "--format", "openai", "-o",
                   str(answered_out), cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (line,) = read_jsonl(answered_out)
    check_openai_line(line)
    roles = [m["role"] for m in line["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    tool = line["messages"][2]
    assert set(tool) == {"role", "content", "tool_call_id"}  # APIGen's "name" is not OpenAI's
    assert json.loads(tool["content"]) == "Thursday" and tool["tool_call_id"] == "call_1"


def test_a_bad_row_stops_the_export_and_writes_nothing(tmp_path):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    stray = {"messages": [{"role": "user", "content": "hi"},
                          {"role": "tool", "content": "1", "tool_call_id": "call_9"},
                          {"role": "assistant", "content": "x"}]}  # fmt: skip
    source = write_jsonl(tmp_path / "data.jsonl", [good, stray])
    out = tmp_path / "fc.jsonl"
    done = run_cli("export", str(source), "--format", "openai", "-o", str(out), cwd=ROOT)
    assert done.returncode == 2 and not out.exists()
    assert done.stderr.strip().endswith(
        "data.jsonl:2: field 'messages': message 2 (tool) answers no earlier call"
    )
    help_text = run_cli("export", "--help", cwd=ROOT).stdout
    assert "openai" in help_text and "tool_call_id" in help_text
