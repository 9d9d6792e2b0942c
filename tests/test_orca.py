"""Explanation tuning (Orca / Orca 2) on the embedded model."""

from __future__ import annotations

import pytest
from conftest import read_jsonl, run_cli, summary_of
from pydantic import ValidationError

from synthaug.methods.instruct.orca import STRATEGIES, ExplainParams


def test_strategies_are_validated_and_extendable():
    assert {
        "step_by_step",
        "recall_then_generate",
        "recall_reason_generate",
        "direct_answer",
    } <= set(STRATEGIES)
    with pytest.raises(ValidationError, match="unknown strategies telepathy"):
        ExplainParams(strategies=["telepathy"])
    custom = ExplainParams(
        strategies=["socratic"], system_prompts={"socratic": "Ask guiding questions."}
    )
    assert custom.strategies == ["socratic"]


def test_orca_recipe_records_system_instruction_and_erased_training_prompt(tmp_path):
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    args = (
        "run",
        "orca",
        "--limit",
        "3",
        "--set",
        "steps[1].params.max_tokens=96",
        "--out",
        "data.jsonl",
        "--quiet",
    )
    first = run_cli(*args, cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    records = read_jsonl(tmp_path / "data.jsonl")
    assert len(records) == 3
    for record in records:
        assert record["system_prompt"] == STRATEGIES[record["strategy"]]
        assert record["messages"][0] == {
            "role": "system",
            "content": "You are a helpful assistant.",
        }
        assert record["messages"][2]["content"] == record["output"] and record["output"]
        assert record["_meta"]["method"] == "orca.explain" and record["_meta"]["parents"]
    again = run_cli(*args, cwd=tmp_path, env=env)
    assert again.returncode == 0 and summary_of(tmp_path / "data.jsonl")["llm"]["model_calls"] == 0
    bad = run_cli(
        "run", "orca", "--set", "steps[1].params.strategies=[telepathy]", cwd=tmp_path, env=env
    )
    assert bad.returncode == 2 and "steps[1].params" in bad.stderr
