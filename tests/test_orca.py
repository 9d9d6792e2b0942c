"""Explanation tuning (Orca / Orca 2) on the embedded model."""

from __future__ import annotations

import pytest
from conftest import run_cli, run_recipe_twice
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
    records = run_recipe_twice(
        tmp_path, "orca", "--limit", "3", "--set", "steps[1].params.max_tokens=96"
    )
    assert len(records) == 3
    for record in records:
        assert record["system_prompt"] == STRATEGIES[record["strategy"]]
        assert record["messages"][0] == {
            "role": "system",
            "content": "You are a helpful assistant.",
        }
        assert record["messages"][2]["content"] == record["output"] and record["output"]
        assert record["_meta"]["method"] == "orca.explain" and record["_meta"]["parents"]
    bad = run_cli("run", "orca", "--set", "steps[1].params.strategies=[telepathy]", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[1].params" in bad.stderr
