"""Unnatural Instructions, Code Alpaca and LongForm end to end on the real embedded model,
through the real CLI: one small run per recipe, each checked against its method's defining
rules on the records (and dropped rows) the model really produced. LongForm's run is
killed with SIGKILL mid-way and resumed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, summary_of

from synthaug.methods.instruct import code_alpaca, longform, unnatural
from synthaug.methods.instruct.self_instruct import load_seed_tasks, passes_filters
from synthaug.methods.preference.summarize import load_documents
from synthaug.quality.rouge import rouge_l


def run_recipe(folder: Path, *args: str) -> Path:
    out = folder / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(folder / "cache.sqlite3")}
    result = run_cli("run", *args, "--out", str(out), "--quiet", cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def unnatural_run(tmp_path_factory) -> Path:
    return run_recipe(
        tmp_path_factory.mktemp("unnatural"),
        "unnatural_instructions",
        *("--set", "steps[0].params.num_examples=2"),
        *("--set", "steps[0].params.max_tokens=112"),
        *("--set", "steps[0].params.requests_in_flight=4"),
        *("--set", "steps[1].params.max_tokens=64"),
        *("--set", "steps[2].params.num_reformulations=1"),
        *("--set", "steps[2].params.max_tokens=48"),
    )


def test_unnatural_core_examples_follow_the_papers_filters(unnatural_run):
    records = read_jsonl(unnatural_run)
    core = [r for r in records if not r["reformulation"]]
    assert len(core) == 2 and summary_of(unnatural_run)["steps"][0]["rows_out"] == 2
    seeds = [e for prompt in unnatural.load_seed_prompts(None, 3) for e in prompt]
    seed_keys = {unnatural.key(e[f]) for e in seeds for f in ("instruction", "input")}
    pairs = [(unnatural.key(r["instruction"]), unnatural.key(r["input"])) for r in core]
    assert len(set(pairs)) == len(pairs), "exact duplicates must be dropped"
    for record in core:
        assert all(str(record[f]).strip() for f in (*unnatural.FIELDS, "output"))
        assert unnatural.key(record["instruction"]) not in seed_keys
        assert unnatural.key(record["input"]) not in seed_keys
        assert record["instruction_with_input"] == f"{record['instruction']}\n{record['input']}"
    errors = read_jsonl(unnatural_run.with_name("data.errors.jsonl"))
    generation_errors = [e for e in errors if e["_meta"]["step"] == "examples"]
    for error in generation_errors:
        if error["_meta"]["error"]["kind"] == "missing_fields":
            assert unnatural.parse_example(error["generation"]) is None


def test_unnatural_reformulations_keep_input_and_output_with_the_placeholder(unnatural_run):
    records = read_jsonl(unnatural_run)
    by_parent = {r["_meta"]["parents"][0]: r for r in records if not r["reformulation"]}
    summary = summary_of(unnatural_run)["steps"][2]
    assert summary["rows_in"] == 2
    assert summary["rows_out"] + summary["errors"].get("no_input_placeholder", 0) >= 2
    for record in (r for r in records if r["reformulation"]):
        core = by_parent[record["_meta"]["parents"][0]]
        assert unnatural.PLACEHOLDER in record["instruction"]
        assert record["instruction"] != core["instruction"]
        assert (record["input"], record["output"]) == (core["input"], core["output"])
        filled = record["instruction"].replace(unnatural.PLACEHOLDER, core["input"])
        assert record["instruction_with_input"] == filled
    errors = read_jsonl(unnatural_run.with_name("data.errors.jsonl"))
    for error in (e for e in errors if e["_meta"]["error"]["kind"] == "no_input_placeholder"):
        assert unnatural.parse_reformulation(error["reformulated"]) is None


def test_code_alpaca_records_are_novel_filtered_code_tasks(tmp_path):
    out = run_recipe(
        tmp_path,
        "code_alpaca",
        *("--set", "steps[0].params.num_instructions=1"),
        *("--set", "steps[0].params.max_tokens=160"),
        *("--set", "steps[0].params.requests_in_flight=4"),
    )
    records = read_jsonl(out)
    assert len(records) == 1
    seeds = [t["instruction"] for t in load_seed_tasks(_code_seeds())]
    blacklist = code_alpaca.CODE_BLACKLIST
    for i, record in enumerate(records):
        assert passes_filters(record["instruction"], blacklist)
        assert record["output"].strip() and record["input"] != code_alpaca.NO_INPUT
        earlier = seeds + [r["instruction"] for r in records[:i]]
        assert max(rouge_l(record["instruction"], other) for other in earlier) <= 0.7
        assert record["_meta"]["method"] == "code_alpaca.generate"


def _code_seeds() -> str:
    from importlib import resources

    return str(resources.files("synthaug") / "data" / code_alpaca.SEED_TASKS)


def test_longform_kill_9_resume_and_reverse_instruction_rules(tmp_path):
    records, summary, _ = resume_after_kill(
        tmp_path, "longform", "--set", "steps[0].params.count=4", after_calls=2
    )
    assert summary["steps"][1]["rows_in"] == 4
    documents = {d["title"]: d["document"] for d in load_documents(None, 4)}
    assert records
    for record in records:
        expected, truncated = longform.cut_to_words(documents[record["title"]], 1000)
        assert record["output"] == expected and record["truncated"] == truncated
        assert record["style"] in longform.STYLES
        phrase = record["length_phrase"]
        assert record["instruction"].endswith(phrase) and record["instruction"] != phrase
        if "sentences" in phrase:
            count = len([s for s in longform.SENTENCE_END.split(expected) if s.strip()])
            assert phrase == f"Respond in {count} sentences."
    assert {r["style"] for r in records} <= set(longform.STYLES)
