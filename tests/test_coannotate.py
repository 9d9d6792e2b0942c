"""CoAnnotating allocation: the ranking and threshold math by hand, and the coannotate recipe
end to end on the embedded model (label -> allocate, rerun from cache, label-report)."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import read_jsonl, run_cli, run_recipe_twice

from synthaug.engine.step import StepContext
from synthaug.methods.labeling.coannotate import (
    Allocate,
    AllocateParams,
    allocate,
    human_count,
    uncertainty_of,
)
from synthaug.records import META

CTX = StepContext(llm=None, run_seed=0, step_name="allocate")


def test_uncertainty_measures():
    row = {"label_entropy": 0.918296, "label_stated_confidence": 85.0}
    assert uncertainty_of(row, "entropy") == 0.918296
    assert uncertainty_of(row, "self_evaluation") == 0.15
    assert uncertainty_of({"label_entropy": None}, "entropy") is None
    assert uncertainty_of({"label_entropy": 0.0}, "self_evaluation") is None


def test_threshold_allocation_is_strictly_greater():
    # 5 variants: 5-0 -> 0 bits, 4-1 -> 0.7219, 3-2 -> 0.971; default threshold 0.8
    keys = [(0.0,), (0.721928,), (0.970951,), (0.8,)]
    assert allocate(keys, ["a", "b", "c", "d"]) == ["llm", "llm", "human", "llm"]
    assert allocate(keys, ["a", "b", "c", "d"], threshold=0.5) == ["llm", "human", "human", "human"]


def test_budget_sends_the_most_uncertain_to_humans():
    keys = [(0.0, 0.1), (1.0, 0.2), (0.5, 0.9), (1.0, 0.6), (0.5, 0.3)]
    ids = ["e", "d", "c", "b", "a"]
    # ranking: (1.0, 0.6) b, (1.0, 0.2) d, (0.5, 0.9) c, (0.5, 0.3) a, (0.0, 0.1) e
    assert allocate(keys, ids, budget=2) == ["llm", "human", "llm", "human", "llm"]
    assert allocate(keys, ids, budget=0.6) == ["llm", "human", "human", "human", "llm"]
    assert allocate(keys, ids, budget=0) == ["llm"] * 5
    assert allocate(keys, ids, budget=1.0) == ["human"] * 5
    # ties in every measure: by record id
    assert allocate([(1.0,), (1.0,)], ["z", "y"], budget=1) == ["llm", "human"]


def test_human_count_rounds_half_up():
    assert human_count(5, 0.5) == 3  # 2.5 -> 3 (not banker's 2)
    assert human_count(10, 0.3) == 3
    assert human_count(4, 7) == 4


@pytest.mark.parametrize(
    "params",
    [{"threshold": 0.5, "budget": 3}, {"budget": 1.5}, {"budget": -1}, {"by": ["entropy"] * 2}],
)
def test_bad_params(params):
    with pytest.raises(ValueError):
        AllocateParams(**params)


def test_step_writes_columns_and_error_rows():
    rows = [
        {"label": "a", "label_entropy": 1.0, META: {"id": "r1"}},
        {"label": "a", "label_entropy": 0.0, META: {"id": "r2"}},
        {"label": "b", META: {"id": "r3"}},
    ]

    async def run():
        async def source():
            for row in rows:
                yield row

        return [r async for r in Allocate(budget=1).transform(source(), CTX)]

    out = asyncio.run(run())
    assert out[0][META]["error"]["kind"] == "no_uncertainty"
    assert [(r["allocated_to"], r["uncertainty"]) for r in out[1:]] == [
        ("human", 1.0),
        ("llm", 0.0),
    ]


def test_coannotate_recipe_end_to_end(tmp_path):
    """Six headlines, two prompt variants each (12 short requests); SmolLM2-135M labels
    them poorly, so only the shape and the allocation rule are checked, not accuracy."""
    records = run_recipe_twice(
        tmp_path,
        "coannotate",
        "--set",
        "steps[0].params.count=6",
        "--set",
        "steps[1].params.prompt_variants=2",
        "--set",
        "steps[2].params.budget=2",
    )
    assert len(records) == 6
    assert sorted(r["allocated_to"] for r in records) == ["human"] * 2 + ["llm"] * 4
    for r in records:
        assert r["label"] in ("sarcastic", "not_sarcastic") and r["gold"] is not None
        assert sum(r["label_votes"].values()) == 2 and r["uncertainty"] == r["label_entropy"]
        assert r["label_entropy"] in (0.0, 1.0)
    humans = min(r["uncertainty"] for r in records if r["allocated_to"] == "human")
    assert humans >= max(r["uncertainty"] for r in records if r["allocated_to"] == "llm")
    report = run_cli("label-report", "data.jsonl", "--gold", "gold", "--json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    summary = json.loads(report.stdout)
    assert summary["n"] == 6 and summary["calibration"]["n"] == 6
    assert summary["allocation"]["human"]["rows"] == 2
    print("coannotate e2e label-report:", json.dumps(summary))
    assert read_jsonl(tmp_path / "data.jsonl") == records
