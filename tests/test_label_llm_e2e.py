"""label.llm end to end on the embedded SmolLM2-135M: few-shot, two samples, explanations
and stated confidence; rerun from cache; label-report on the output; schema errors."""

from __future__ import annotations

import json

from conftest import run_cli, run_recipe_twice


def test_label_llm_recipe(tmp_path):
    """Three headlines x one variant x two samples (3 requests). The 135M model labels near
    chance; the test checks the columns, not the accuracy."""
    records = run_recipe_twice(
        tmp_path,
        "label_llm",
        "--set",
        "steps[0].params.count=3",
        "--set",
        "steps[1].params.prompt_variants=1",
        "--set",
        "steps[1].params.samples=2",
        "--set",
        "steps[1].params.shots=1",
        "--set",
        "steps[1].params.max_tokens=48",
    )
    assert len(records) == 3
    assert [r["gold"] for r in records] == ["sarcastic", "not_sarcastic", "sarcastic"]
    for r in records:
        assert r["label"] in ("sarcastic", "not_sarcastic")
        assert 1 <= sum(r["label_votes"].values()) <= 2
        assert r["label_confidence"] in (0.5, 1.0) and 0 <= r["label_entropy"] <= 1.585
        assert r["label_stated_confidence"] is None or 0 <= r["label_stated_confidence"] <= 100
    report = run_cli("label-report", "data.jsonl", "--gold", "gold", "--json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    print("label_llm e2e label-report:", report.stdout)
    assert json.loads(report.stdout)["n"] == 3


def test_bad_schema_is_one_line_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("labels:\n  - name: a\n  - {name: a}\n")
    result = run_cli(
        "run",
        "label_llm",
        "--set",
        f"steps[1].params.schema={tmp_path / 'bad.yaml'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "field 'labels[1].name': duplicate label 'a'" in result.stderr
