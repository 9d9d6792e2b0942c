"""Multi-turn tool dialogues (APIGen-MT): message assembly and parsing, scripted dialogues whose
calls run in the real sandbox (malformed calls as row errors with reasons), the recipe end to
end on the embedded model with a kill -9 resume, ``synthaug verify`` agreeing on every call,
and the SFT export prepared by TRL's SFTTrainer with its tools."""

from __future__ import annotations

import asyncio
import copy
import json
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, summary_of

from synthaug.engine.resources import RunResources
from synthaug.engine.step import RowError, StepContext
from synthaug.methods.tool_use.openai_messages import call_turns, calls_in
from synthaug.methods.tool_use.tool_dialogues import (
    MAX_STEPS,
    STOP,
    Check,
    Dialogue,
    action_schema,
    answered_prefix,
    missing_results,
    transcript,
    user_turn,
)
from synthaug.records import META
from synthaug.tools.registry import builtin_tools
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

TOOLS = {tool.name: tool for tool in builtin_tools()}
KINDS = {"malformed_output", "malformed_call", "format", "execution", "empty_turn", "no_answer",
         "goal"}  # fmt: skip
ADD = {"name": "calculate", "arguments": {"expression": "2+3"}}
FIVE = {"exact": "5", "decimal": "5"}


def test_call_turns_and_calls_in_round_trip():
    turns = call_turns([ADD, {"name": "day_of_week", "arguments": {"date": "2024-03-01"}}],
                       [FIVE, "Friday"], first_id=3)  # fmt: skip
    assert turns[0]["tool_calls"][1] == {"id": "call_4", "type": "function", "function": {
        "name": "day_of_week", "arguments": '{"date": "2024-03-01"}'}}  # fmt: skip
    assert turns[2] == {"role": "tool", "tool_call_id": "call_4", "name": "day_of_week",
                        "content": '"Friday"'}  # fmt: skip
    messages = [{"role": "user", "content": "hi"}, *turns,
                {"role": "assistant", "content": "5, Friday"}]  # fmt: skip
    assert calls_in(messages) == ([ADD, {"name": "day_of_week", "arguments": {"date": "2024-03-01"}}],
                                  [FIVE, "Friday"])  # fmt: skip


def test_action_schema_and_the_answer_only_action():
    tools = [TOOLS["calculate"].schema()]
    free = action_schema(tools, "names", 3, 200)["properties"]
    assert free["tool_calls"]["maxItems"] == 3 and free["content"]["minLength"] == 0
    assert free["tool_calls"]["items"]["properties"]["name"] == {"enum": ["calculate"]}
    answer = action_schema(tools, "arguments", 0, 200)["properties"]
    assert answer["tool_calls"]["maxItems"] == 0 and answer["content"]["minLength"] == 1
    assert MAX_STEPS == 30  # τ-bench's max_num_steps


def test_user_turns_transcripts_and_answered_prefix():
    assert user_turn("User: What is 2+3? ") == "What is 2+3?"
    assert user_turn(f"Thanks! {STOP}") is None and user_turn("  ") is None
    messages = [{"role": "user", "content": "2+3?"}, *call_turns([ADD], [FIVE]),
                {"role": "assistant", "content": "5."}, {"role": "user", "content": "and 3+4?"},
                *call_turns([ADD], [FIVE], first_id=2)]  # fmt: skip
    assert answered_prefix(messages) == messages[:4] and answered_prefix(messages[:3]) == []
    assert [line["speaker"] for line in transcript(messages, with_tools=False)] == [
        "User", "Assistant", "User"]  # fmt: skip
    full = transcript(messages[:4], with_tools=True)
    assert full[1] == {"speaker": "Assistant calls", "text": 'calculate({"expression": "2+3"})'}
    assert full[2] == {"speaker": "Result of calculate", "text": json.dumps(FIVE)}


def test_missing_results_compares_each_ground_truth_result():
    other = {"name": "calculate", "arguments": {"expression": "5"}}  # a different call, same result
    assert missing_results([ADD], [FIVE], [other], [FIVE]) == []
    assert missing_results([ADD], [FIVE], [ADD], [{"exact": "6", "decimal": "6"}]) == [
        f'calculate({{"expression": "2+3"}}) -> {json.dumps(FIVE)}']  # fmt: skip


def scripted(user: list[str], assistant: list[str], finish_reason: str = "stop"):
    """A client answering user-simulator requests (no JSON schema) and assistant requests (a
    JSON schema) from two scripts, in order (for the dialogue logic only; the model's own
    replies are tested end to end below)."""
    scripts = {False: list(user), True: list(assistant)}
    seen = []

    async def complete(request):
        seen.append(request)
        text = scripts[request.json_schema is not None].pop(0)
        return SimpleNamespace(text=text, choices=[SimpleNamespace(finish_reason=finish_reason)])

    backend = SimpleNamespace(describe=lambda: "scripted")
    return SimpleNamespace(complete=complete, key=lambda r: f"key{len(seen)}", backend=backend,
                           seen=seen)  # fmt: skip


def context(llm) -> StepContext:
    return StepContext(llm=llm, run_seed=0, step_name="t",
                       resources=RunResources(sandbox=Sandbox()))  # fmt: skip


def blueprint(names=("calculate", "day_of_week")) -> dict:
    return {
        "query": "What is 2+3?",
        "tools": [TOOLS[n].schema() for n in names],
        "tool_calls": [ADD],
        "tool_results": [FIVE],
        "tool_impl": {n: TOOLS[n].implementation() for n in names},
        META: {"id": "row-1", "parents": [], "step": "t", "method": "t"},
    }


def action(calls=(), content="") -> str:
    return json.dumps({"tool_calls": list(calls), "content": content})


def test_a_scripted_dialogue_runs_every_call_and_its_verdict_re_checks():
    llm = scripted(["User: What is 2+3?", "And what day is 2024-03-01?", STOP],
                   [action([ADD]), action(content="It is 5."),
                    action([{"name": "day_of_week", "arguments": {"date": "2024-03-01"}}]),
                    action(content="A Friday.")])  # fmt: skip
    (done,) = asyncio.run(Dialogue().process(blueprint(), context(llm)))
    roles = [m["role"] for m in done["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant", "tool",
                     "assistant"]  # fmt: skip
    assert done["messages"][6] == {"role": "tool", "tool_call_id": "call_2",
                                   "name": "day_of_week", "content": '"Friday"'}  # fmt: skip
    assert done["dialogue_end"] == "user_stop" and done["dialogue_steps"] == 4
    assert all(run["status"] == "ok" for run in done["dialogue_execution"])
    assert "Result of calculate" in llm.seen[2].messages[0]["content"]  # the assistant sees results
    assert "Result of" not in llm.seen[3].messages[0]["content"]  # the user does not
    (kept,) = asyncio.run(Check().process(done, context(llm)))
    assert {"tool_impl", "tool_calls", "tool_results", "query"}.isdisjoint(kept)
    assert kept["goal"] == {"query": "What is 2+3?", "calls": [ADD], "results": [FIVE]}
    evidence = kept["verification"]
    assert evidence["kind"] == "tool_calls" and len(evidence["calls"]) == 2
    sandbox = Sandbox()
    assert asyncio.run(reverify(evidence, sandbox)) is True
    forged = copy.deepcopy(evidence)
    forged["results"][1]["return"] = "Monday"
    assert asyncio.run(reverify(forged, sandbox)) is False


def fails(step, row, llm) -> RowError:
    with pytest.raises(RowError) as raised:
        asyncio.run(step.process(row, context(llm)))
    return raised.value


def test_malformed_calls_and_replies_are_row_errors_with_reasons():
    ask = ["What is 2+3?"]
    cases = [
        (["{not json"], "malformed_output", "step 1: the assistant's reply is not a JSON object"),
        ([action([{"arguments": {}}])], "malformed_call", "step 1: call 1 has no function name"),
        ([action([{"name": "calc", "arguments": {}}])], "format",
         "step 1: call 1: calc: no such tool (offered: calculate, day_of_week)"),
        ([action([{"name": "day_of_week", "arguments": {"date": "March"}}])], "execution",
         "step 1 call 1 day_of_week: ValueError: not a date in YYYY-MM-DD form: 'March'"),
        ([action()], "empty_turn", "step 1: the assistant neither called nor answered"),
    ]  # fmt: skip
    for replies, kind, reason in cases:
        error = fails(Dialogue(), blueprint(), scripted(ask, replies))
        assert error.kind == kind and str(error).startswith(reason), str(error)
    cut = fails(Dialogue(), blueprint(), scripted(ask, ['{"tool_calls": ['], "length"))
    assert "(cut off at max_tokens)" in str(cut)
    assert fails(Dialogue(), blueprint(), scripted([STOP], [])).kind == "empty_turn"
    # the step budget ends mid-turn: the unanswered turn is dropped, or nothing is left
    loop = scripted(ask, [action([ADD])] * 2)
    assert fails(Dialogue(max_steps=2), blueprint(), loop).kind == "no_answer"
    budget = scripted([*ask, "and 1+1?"], [action([ADD]), action(content="5."), action([ADD])])
    (done,) = asyncio.run(Dialogue(max_steps=3).process(blueprint(), context(budget)))
    assert done["dialogue_end"] == "max_steps" and done["messages"][-1]["content"] == "5."
    # with max_call_steps, the action after that many call actions may only answer
    forced = scripted([*ask, STOP], [action([ADD]), action(content="5.")])
    asyncio.run(Dialogue(max_call_steps=1).process(blueprint(), context(forced)))
    assert forced.seen[2].json_schema["properties"]["tool_calls"]["maxItems"] == 0
    # a dialogue whose calls never obtained the ground truth's result fails the check
    other = {"name": "calculate", "arguments": {"expression": "2+4"}}
    wrong = scripted([*ask, STOP], [action([other]), action(content="6.")])
    (off,) = asyncio.run(Dialogue().process(blueprint(), context(wrong)))
    assert fails(Check(), off, None).kind == "goal"
