"""Label metrics and calibration against hand-computed values, and ``synthaug label-report``."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, write_jsonl

from synthaug.methods.labeling.metrics import (
    allocation_counts,
    calibration,
    classification_metrics,
    label_report,
)


def test_classification_metrics_by_hand():
    gold = ["a", "a", "a", "b", "b", "c", None]
    pred = ["a", "a", "b", "b", None, "a", "c"]
    m = classification_metrics(pred, gold)
    # scored: the 6 with gold; correct: a, a, b -> 3/6
    assert (m["n"], m["correct"], m["accuracy"], m["unlabelled"]) == (6, 3, 0.5, 1)
    # a: tp 2, predicted 3, support 3 -> P 2/3, R 2/3, F1 2/3
    assert m["per_class"]["a"] == {
        "precision": 0.6667,
        "recall": 0.6667,
        "f1": 0.6667,
        "support": 3,
        "predicted": 3,
    }
    # b: tp 1, predicted 2, support 2 -> P 0.5, R 0.5, F1 0.5; c: never right -> 0
    assert m["per_class"]["b"]["f1"] == 0.5 and m["per_class"]["c"]["f1"] == 0.0
    assert m["macro_f1"] == round((0.6667 + 0.5 + 0.0) / 3, 4)


def test_calibration_by_hand():
    conf = [0.95, 0.95, 1.0, 0.55, 0.5, 0.05]
    correct = [True, True, False, True, False, False]
    cal = calibration(conf, correct)
    bins = {tuple(b["bin"]): b for b in cal["bins"] if b["count"]}
    assert bins[(0.9, 1.0)] == {
        "bin": [0.9, 1.0],
        "count": 3,
        "mean_confidence": 0.9667,
        "accuracy": 0.6667,
    }
    assert bins[(0.5, 0.6)]["count"] == 2 and bins[(0.5, 0.6)]["accuracy"] == 0.5
    assert bins[(0.0, 0.1)]["mean_confidence"] == 0.05
    # ECE = 3/6 |2/3 - 2.9/3| + 2/6 |0.5 - 0.525| + 1/6 |0 - 0.05|
    expected = 0.5 * abs(2 / 3 - 2.9 / 3) + abs(0.5 - 0.525) / 3 + 0.05 / 6
    assert cal["ece"] == round(expected, 4) == 0.1667
    assert len(cal["bins"]) == 10
    with pytest.raises(ValueError):
        calibration([1.5], [True])


def test_perfect_calibration_is_zero():
    assert calibration([1.0, 1.0], [True, True])["ece"] == 0.0


def test_allocation_counts():
    rows = [
        {"allocated_to": "llm", "label": "a", "gold": "a"},
        {"allocated_to": "llm", "label": "b", "gold": "a"},
        {"allocated_to": "human", "label": "a", "gold": "a"},
        {"allocated_to": "human", "label": "a", "gold": None},
    ]
    assert allocation_counts(rows, "label", "gold") == {
        "human": {"rows": 2, "gold": 1, "correct": 1, "llm_accuracy": 1.0},
        "llm": {"rows": 2, "gold": 2, "correct": 1, "llm_accuracy": 0.5},
    }
    assert label_report(rows, "gold")["calibration"] is None


def test_label_report_cli(tmp_path):
    rows = [
        {"label": "a", "gold": "a", "label_confidence": 0.9},
        {"label": "b", "gold": "a", "label_confidence": 0.6},
    ]
    write_jsonl(tmp_path / "d.jsonl", rows)
    text = run_cli("label-report", "d.jsonl", "--gold", "gold", cwd=tmp_path)
    assert text.returncode == 0 and "accuracy 0.5" in text.stdout and "ECE" in text.stdout
    report = json.loads(
        run_cli("label-report", "d.jsonl", "--gold", "gold", "--json", cwd=tmp_path).stdout
    )
    assert report["accuracy"] == 0.5 and report["calibration"]["ece"] == 0.35
    for args, message in [
        (["d.jsonl", "--gold", "nope"], "d.jsonl: field 'nope': no record has this column"),
        (["x.jsonl", "--gold", "gold"], "x.jsonl: no such file"),
        (["d.jsonl", "--gold", "gold", "--confidence", "gold"], "field 'gold'"),
    ]:
        bad = run_cli("label-report", *args, cwd=tmp_path)
        assert bad.returncode == 2 and message in bad.stderr
        assert bad.stderr.strip().count("\n") == 0
