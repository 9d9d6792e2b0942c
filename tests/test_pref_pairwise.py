"""Pairwise AI feedback (judge.pairwise, pairwise.pairs), win-rate matrices and summary
comparisons: position bias on real replies of the embedded model, and runs on it."""

from __future__ import annotations

import argparse
import asyncio
import json
import math

import pytest
import yaml
from conftest import read_jsonl, run_recipe_twice, write_jsonl

from synthaug.engine.step import StepContext
from synthaug.errors import SynthaugError
from synthaug.llm.types import Choice, Completion, TokenLogprob
from synthaug.methods.preference.pairwise import (
    Pairs,
    comparison,
    pair_indices,
    parse_verdict,
    soft_preference,
    verdict_grammar,
)
from synthaug.methods.preference.summarize import load_documents
from synthaug.methods.preference.winrates import add_command, win_rate_matrix

PARIS, TURTLES = "The capital of France is Paris.", "I like turtles."

# Real replies of the embedded SmolLM2-135M to pairwise_general.j2 for "What is the capital of
# France?" (allow_tie, grammar 'root ::= "A" | "B" | "tie"', T=0, max_tokens 2, seed 1,
# top_logprobs 20; the first six top log-probabilities kept). Order 1 shows PARIS as (A), order
# 2 shows TURTLES as (A): the model answers "A" both times, so the verdicts disagree.
REAL_ORDER_1 = ("A", [("(", -1.487), ("A", -1.6), ("The", -2.504), ("I", -3.325), ("B", -3.61)])
REAL_ORDER_2 = ("A", [("(", -1.428), ("A", -1.696), ("The", -2.611), ("I", -2.993), ("B", -3.425)])


def completion(text: str, top: list[tuple[str, float]] | None) -> Completion:
    logprobs = None
    if top is not None:
        entries = [{"token": t, "logprob": lp} for t, lp in top]
        logprobs = [TokenLogprob(token=text, logprob=top[0][1], top_logprobs=entries)]
    return Completion(choices=[Choice(text=text, finish_reason="stop", logprobs=logprobs)])


def test_position_bias_on_real_replies_is_recorded_as_inconsistent():
    first, second = (completion(*REAL_ORDER_1), completion(*REAL_ORDER_2))
    p_first, p_second = soft_preference(first), soft_preference(second)
    assert p_first == pytest.approx(1 / (1 + math.exp(-3.61 + 1.6)))
    assert p_first > 0.8 and p_second > 0.8  # "A" is likelier whatever (A) is
    verdicts = (parse_verdict(first.text), parse_verdict(second.text))
    result = comparison(verdicts, (p_first, p_second))
    assert result["raw_verdicts"] == ["A", "A"]
    assert result["verdicts"] == ["A", "B"]  # mapped back: order 2's "A" is item b
    assert result["winner"] == "inconsistent"
    assert result["p_a"] == round((p_first + 1 - p_second) / 2, 4)
    assert 0.5 < result["p_a"] < 0.55  # averaged over both orders the bias nearly cancels


def test_comparison_mapping_and_winner():
    assert comparison(("A", "B"), (None, None))["winner"] == "a"
    assert comparison(("B", "A"), (0.2, 0.9)) == {
        "verdicts": ["B", "B"],
        "raw_verdicts": ["B", "A"],
        "winner": "b",
        "p_a": 0.15,
    }
    assert comparison(("tie", "tie"), (0.5, None))["winner"] == "tie"
    assert comparison(("tie", "B"), (None, None))["winner"] == "inconsistent"
    assert comparison(("B", "B"), (None, None))["verdicts"] == ["B", "A"]


def test_verdicts_grammar_and_soft_label_edge_cases():
    assert [parse_verdict(t) for t in ("A", " B\n", "(A)", "tie", "Tie", "C", "")] == [
        "A",
        "B",
        "A",
        "tie",
        "tie",
        None,
        None,
    ]
    assert verdict_grammar(True) == 'root ::= "A" | "B" | "tie"'
    assert verdict_grammar(False) == 'root ::= "A" | "B"'
    assert soft_preference(completion("A", None)) is None  # no log-probabilities
    assert soft_preference(completion("A", [("A", -0.1), ("(", -2.0)])) is None  # no "B"
    assert soft_preference(completion("B", [(" B", -0.5), (" A", -0.5)])) == 0.5
    assert pair_indices(3, "all") == [(0, 1), (0, 2), (1, 2)]
    assert pair_indices(3, "adjacent") == [(0, 1), (1, 2)]
    assert pair_indices(1, "all") == []


def _row() -> dict:
    completions = [
        {"model": "x", "response": "r0", "score": 4.0},
        {"model": "y", "response": "r1"},
        {"model": "y", "response": "r2"},
    ]
    comparisons = [
        {"a": 0, "b": 1, "model_a": "x", "model_b": "y", "winner": "a", "p_a": 0.7,
         "verdicts": ["A", "A"]},
        {"a": 0, "b": 2, "model_a": "x", "model_b": "y", "winner": "b", "p_a": 0.4,
         "verdicts": ["B", "B"]},
        {"a": 1, "b": 2, "model_a": "y", "model_b": "y", "winner": "tie", "p_a": None,
         "verdicts": ["tie", "tie"]},
        {"a": 0, "b": 1, "model_a": "x", "model_b": "y", "winner": "inconsistent", "p_a": 0.5,
         "verdicts": ["A", "B"]},
    ]  # fmt: skip
    return {"instruction": "Q", "completions": completions, "comparisons": comparisons,
            "_meta": {"id": "r1"}}  # fmt: skip


def test_pairwise_pairs_skip_ties_and_inconsistent():
    ctx = StepContext(llm=None, run_seed=0, step_name="pairs")
    out = asyncio.run(Pairs().process(_row(), ctx))
    pairs = [r for r in out if "error" not in r["_meta"]]
    kinds = [r["_meta"]["error"]["kind"] for r in out if "error" in r["_meta"]]
    assert kinds == ["tie", "inconsistent"]
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("r0", "r1"), ("r2", "r0")]
    assert [p["p_chosen"] for p in pairs] == [0.7, 0.6]
    assert pairs[0]["chosen_score"] == 4.0 and pairs[0]["rejected_score"] is None
    assert pairs[1]["chosen_model"] == "y" and pairs[1]["pair_method"] == "pairwise.pairs"
    assert all("completions" not in p and "comparisons" not in p for p in pairs)
    assert len({r["_meta"]["id"] for r in out}) == 4


def test_win_rate_matrix_counts():
    report = win_rate_matrix([_row()])
    assert report["comparisons"] == 4
    assert report["pairs"] == [
        {"first": "x", "second": "y", "wins": 1, "losses": 1, "ties": 0, "inconsistent": 1,
         "win_rate": 0.5},
        {"first": "y", "second": "y", "wins": 0, "losses": 0, "ties": 1, "inconsistent": 0,
         "win_rate": 0.5},
    ]  # fmt: skip
    assert report["groups"]["x"] == {"completions": 1, "scored": 1, "mean_score": 4.0}
    assert report["groups"]["y"]["mean_score"] is None
    swapped = _row()
    for c in swapped["completions"]:
        c["model"] = {"x": "b-model", "y": "a-model"}[c["model"]]
    swapped["comparisons"] = swapped["comparisons"][:1]  # b-model (a) beat a-model (b)
    [cell] = win_rate_matrix([swapped])["pairs"]
    assert (cell["first"], cell["wins"], cell["losses"], cell["win_rate"]) == (
        "a-model", 0, 1, 0.0,
    )  # fmt: skip
    by_temperature = win_rate_matrix([_row()], by="temperature")
    assert list(by_temperature["groups"]) == ["?"]


def winrates(*argv: str) -> int:
    """``synthaug winrates ARGV`` as the CLI runs it (one-line error, exit code 2)."""
    parser = argparse.ArgumentParser(prog="synthaug")
    add_command(parser.add_subparsers())
    args = parser.parse_args(["winrates", *argv])
    try:
        return args.handler(args)
    except SynthaugError as error:
        print(f"synthaug: error: {error}")
        return error.exit_code


def test_winrates_command(tmp_path, capsys):
    data = write_jsonl(tmp_path / "judged.jsonl", [_row()])
    assert winrates(str(data)) == 0
    table = capsys.readouterr().out
    assert "1 records, 4 comparisons, by model" in table
    assert "x vs y: 1/1/0, 1 inconsistent" in table
    assert "x: 4.000 (1 of 1 scored)" in table
    assert winrates(str(data), "--json") == 0
    assert json.loads(capsys.readouterr().out) == win_rate_matrix([_row()])
    assert winrates(str(tmp_path / "missing.jsonl")) == 2
    assert capsys.readouterr().out.strip().count("\n") == 0
    (tmp_path / "bad.jsonl").write_text("{not json\n", encoding="utf-8")
    assert winrates(str(tmp_path / "bad.jsonl")) == 2
    empty = write_jsonl(tmp_path / "plain.jsonl", [{"instruction": "Q"}])
    assert winrates(str(empty)) == 2
    assert "no record has 'comparisons'" in capsys.readouterr().out


def test_winrates_from_the_pairs_file_and_its_errors_file(tmp_path, capsys):
    row = _row()
    for compared in row["comparisons"]:  # as judge.pairwise names every grouping of both sides
        compared["temperature_a"] = 0.7 if compared["model_a"] == "x" else 1.0
        compared["temperature_b"] = 0.7 if compared["model_b"] == "x" else 1.0
    ctx = StepContext(llm=None, run_seed=0, step_name="pairs")
    out = asyncio.run(Pairs().process(row, ctx))
    pairs = write_jsonl(tmp_path / "data.jsonl", [r for r in out if "error" not in r["_meta"]])
    errors = write_jsonl(tmp_path / "data.errors.jsonl", [r for r in out if "error" in r["_meta"]])
    assert (
        win_rate_matrix(
            [r for r in out if "error" not in r["_meta"]]
            + [r for r in out if "error" in r["_meta"]]
        )["pairs"]
        == win_rate_matrix([_row()])["pairs"]
    )  # the same counts as the judged rows
    assert winrates(str(pairs), str(errors), "--by", "temperature") == 0
    table = capsys.readouterr().out
    assert "4 records, 4 comparisons, by temperature" in table
    assert "0.7 vs 1.0: 1/1/0, 1 inconsistent" in table and "1.0 vs 1.0: 0/0/1" in table


def test_builtin_documents():
    documents = load_documents(None)
    assert len(documents) == 12
    assert all(120 <= len(d["document"].split()) <= 250 and d["title"] for d in documents)


def check_comparisons(record: dict) -> None:
    """Every comparison judged in both orders, its winner consistent with its verdicts."""
    n = len(record["completions"])
    for compared in record["comparisons"]:
        assert 0 <= compared["a"] < compared["b"] < n
        verdicts, raw = compared["verdicts"], compared["raw_verdicts"]
        assert len(verdicts) == 2 and len(raw) == 2
        assert verdicts[0] == raw[0] and verdicts[1] == {"A": "B", "B": "A"}.get(raw[1], raw[1])
        if verdicts[0] == verdicts[1]:
            assert compared["winner"] == {"A": "a", "B": "b", "tie": "tie"}[verdicts[0]]
        else:
            assert compared["winner"] == "inconsistent"
        assert compared["p_a"] is not None and 0 <= compared["p_a"] <= 1  # local: logprobs


def test_pairwise_both_orders_on_the_embedded_model(tmp_path, capsys):
    rows = [
        {
            "instruction": "What is the capital of France?",
            "completions": [
                {"model": "writer-a", "response": PARIS},
                {"model": "writer-b", "response": TURTLES},
                {"model": "writer-c", "response": "Paris."},
            ],
        },
        {
            "instruction": "Name a primary color.",
            "completions": [
                {"model": "writer-a", "response": "Blue."},
                {"model": "writer-b", "response": "Seven."},
                {"model": "writer-c", "response": "Red is a primary color."},
            ],
        },
    ]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    recipe = {
        "name": "pairwise_test",
        "backend": {"type": "local", "parallel": 4},
        "steps": [
            {"method": "load", "params": {"path": str(data)}},
            {"method": "judge.pairwise"},
        ],
    }
    (tmp_path / "pairwise.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    records = run_recipe_twice(tmp_path, "pairwise.yaml")
    assert len(records) == 2
    for record in records:
        assert [(c["a"], c["b"]) for c in record["comparisons"]] == [(0, 1), (0, 2), (1, 2)]
        check_comparisons(record)
        assert len(record["_meta"]["request"]) == 6  # 3 pairs x 2 orders
    assert winrates(str(tmp_path / "data.jsonl"), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["comparisons"] == 6
    assert [(p["first"], p["second"]) for p in report["pairs"]] == [
        ("writer-a", "writer-b"),
        ("writer-a", "writer-c"),
        ("writer-b", "writer-c"),
    ]
    assert (
        sum(p["wins"] + p["losses"] + p["ties"] + p["inconsistent"] for p in report["pairs"]) == 6
    )


def test_rlaif_pairwise_recipe_on_the_embedded_model(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "rlaif_pairwise",
        "--limit", "2",
        "--set", "steps[1].params.max_tokens=32",
    )  # fmt: skip
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert len(records) + len(errors) == 2  # one comparison per prompt (2 responses)
    for pair in records:
        assert pair["pair_method"] == "pairwise.pairs"
        assert pair["comparison"]["winner"] in ("a", "b") and pair["chosen"] != pair["rejected"]
        assert 0 <= pair["p_chosen"] <= 1
    for error in errors:
        assert error["_meta"]["error"]["kind"] in ("tie", "inconsistent")
        assert error["comparison"]["winner"] == error["_meta"]["error"]["kind"]


def test_summarize_compare_recipe_on_the_embedded_model(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "summarize_compare",
        "--set", "steps[0].params.count=2",
        "--set", "steps[1].params.temperatures=[0.0,1.0]",
        "--set", "steps[1].params.max_tokens=40",
    )  # fmt: skip
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert len(records) + len(errors) == 2  # one comparison (2 summaries) per document
    for row in records + errors:
        assert row["instruction"].startswith("Summarize the following document")
        assert row["document"] in row["instruction"] and row["title"]
    for pair in records:
        assert pair["pair_method"] == "pairwise.pairs" and pair["chosen"] != pair["rejected"]
        assert {pair["comparison"]["a"], pair["comparison"]["b"]} == {0, 1}
    for error in errors:
        assert error["_meta"]["error"]["kind"] in ("tie", "inconsistent")
