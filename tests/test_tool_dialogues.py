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


def test_the_optional_review_asks_a_judge():
    llm = scripted(["What is 2+3?", STOP], [action([ADD]), action(content="5.")])
    (done,) = asyncio.run(Dialogue().process(blueprint(), context(llm)))
    verdicts = ['{"thought": "right", "passes": "yes"}', '{"thought": "wrong", "passes": "no"}',
                '{"thought": "']  # fmt: skip
    judge = scripted([], verdicts)
    (kept,) = asyncio.run(Check(review=True).process(done, context(judge)))
    assert kept["semantic"] == {"passes": True, "goal": "every ground-truth result obtained",
                                "thought": "right", "judge": "scripted"}  # fmt: skip
    assert "The user's goal: What is 2+3?" in judge.seen[0].messages[0]["content"]
    assert kept["verification"]["semantic"] == kept["semantic"]
    assert str(fails(Check(review=True), done, judge)) == "the judge says no: wrong"
    assert fails(Check(review=True), done, judge).kind == "malformed_judgement"


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


# the embedded model, one slot, one thread (llama.cpp's samples depend on batching and the
# thread count): seed 1 keeps 2 of 3 dialogues and fails one with a row error
RUN_ARGS = [
    "--set", "seed=1", "--set", "backend.deterministic=true", "--set", "backend.threads=1",
    "--set", "steps[0].params.count=3",
    "--set", 'steps[0].params.builtins=["calculate","convert_units"]',
    "--set", 'steps[0].params.styles=["simple"]',
    "--set", "steps[4].params.max_steps=2", "--set", "steps[4].params.max_call_steps=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def dialogue_run(tmp_path_factory) -> SimpleNamespace:
    """One small run of the recipe, killed with SIGKILL after 4 answers and resumed
    (``resume_after_kill`` checks the resume: no duplicates, no repeated model call)."""
    cwd = tmp_path_factory.mktemp("tool_dialogues")
    records = resume_after_kill(cwd, "tool_dialogues", *RUN_ARGS, after_calls=4)[0]
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    return SimpleNamespace(cwd=cwd, out=cwd / "data.jsonl", env=env, records=records)


def test_recipe_keeps_dialogues_whose_every_call_ran(dialogue_run):
    records = dialogue_run.records
    assert records, "no dialogue kept"
    for record in records:
        messages, evidence = record["messages"], record["verification"]
        assert messages[0]["role"] == "user" and messages[-1]["role"] == "assistant"
        assert not messages[-1].get("tool_calls") and messages[-1]["content"]
        calls, results = calls_in(messages)
        assert evidence["kind"] == "tool_calls" and evidence["verified"] is True
        assert evidence["calls"] == calls and [r["return"] for r in evidence["results"]] == results
        ids = [c["id"] for m in messages for c in m.get("tool_calls") or []]
        assert ids == [m["tool_call_id"] for m in messages if m["role"] == "tool"]
        assert len(set(ids)) == len(ids) and calls
        offered = {t["function"]["name"] for t in record["tools"]}
        assert {c["name"] for c in calls} <= offered
        assert not missing_results(record["goal"]["calls"], record["goal"]["results"], calls,
                                   results)  # fmt: skip
        assert all(r["isolation"].startswith("bwrap") for r in evidence["execution"])
    failed = read_jsonl(dialogue_run.out.with_name("data.errors.jsonl"))
    assert failed and len(failed) + len(records) == 3
    assert all(f[META]["error"]["kind"] in KINDS | {"malformed_output", "execution"}
               and f[META]["error"]["message"] for f in failed)  # fmt: skip
    steps = {s["name"]: s for s in summary_of(dialogue_run.out)["steps"]}
    assert steps["check"]["rows_out"] == len(records)


def test_verify_re_runs_every_call_of_every_dialogue(dialogue_run):
    done = run_cli("verify", str(dialogue_run.out), "--json", cwd=dialogue_run.cwd,
                   env=dialogue_run.env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == len(dialogue_run.records) == report["agreed"]
    assert report["agreement"] == 1.0 and report["by_kind"]["tool_calls"]["agreed"] >= 1


# Hermes-style ChatML: the tools' schemas in a system turn, each call as a JSON object in a
# <tool_call> block, results as `tool` turns; assistant turns in a {% generation %} block so
# TRL's assistant_only_loss trains on them only
TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system{{ '\\n' }}<tools>{% for t in tools %}"
    "{{ t['function'] | tojson }}{% endfor %}</tools><|im_end|>{{ '\\n' }}{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}{{ '\\n' }}{% if m['role'] != 'assistant' %}"
    "{{ m['content'] }}<|im_end|>{% else %}{% generation %}{{ m['content'] }}"
    "{% for c in m['tool_calls'] or [] %}<tool_call>{\"name\": \"{{ c['function']['name'] }}\", "
    "\"arguments\": {{ c['function']['arguments'] }}}</tool_call>{% endfor %}<|im_end|>"
    "{% endgeneration %}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


def test_sft_export_is_prepared_by_trl_with_its_tools(dialogue_run, monkeypatch):
    """``synthaug export --format sft`` of the run, loaded with ``datasets`` and prepared by
    TRL's SFTTrainer (offline: a BPE trained here, a tiny random Llama; nothing trained)."""
    out = dialogue_run.cwd / "sft.jsonl"
    done = run_cli("export", str(dialogue_run.out), "--format", "sft", "-o", str(out),
                   cwd=dialogue_run.cwd)  # fmt: skip
    assert done.returncode == 0, done.stderr
    home = dialogue_run.cwd / "hf_home"
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HOME", str(home))
    import datasets
    import huggingface_hub.constants
    import torch
    import transformers
    import trl
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    data = datasets.load_dataset("json", data_files=str(out), split="train",
                                 cache_dir=str(home / "datasets"))  # fmt: skip
    assert data.column_names[:2] == ["messages", "tools"]
    records = dialogue_run.records
    assert [json.loads(t) for t in data["tools"]] == [r["tools"] for r in records]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        [out.read_text()],
        trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                            special_tokens=["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]),
    )  # fmt: skip
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>",
        chat_template=TOOL_TEMPLATE,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    ))  # fmt: skip
    config = trl.SFTConfig(output_dir=str(home / "trainer"), report_to="none", use_cpu=True,
                           bf16=False, activation_checkpointing=False, max_length=4096,
                           assistant_only_loss=True)  # fmt: skip
    prepared = trl.SFTTrainer(model=model, args=config, train_dataset=data,
                              processing_class=tokenizer).train_dataset  # fmt: skip
    for row, record in zip(prepared, records, strict=True):
        text = tokenizer.decode(row["input_ids"])
        assert text.startswith("<|im_start|>system\n<tools>")
        assert all(t["function"]["name"] in text.split("</tools>")[0] for t in record["tools"])
        for message in record["messages"]:
            if message["role"] == "tool":
                assert f"<|im_start|>tool\n{message['content']}<|im_end|>" in text
        trained = tokenizer.decode(
            [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
        )
        expected = "".join(
            m["content"] + "".join(f'<tool_call>{{"name": "{c["function"]["name"]}", '
                                   f'"arguments": {c["function"]["arguments"]}}}</tool_call>'
                                   for c in m.get("tool_calls") or []) + "<|im_end|>"
            for m in record["messages"] if m["role"] == "assistant"
        )  # fmt: skip
        assert trained == expected
