"""``synthaug evaluate --student sft`` on the real SmolLM2-135M weights from the shipped GGUF:
two small math datasets (GSM-Symbolic-style worked solutions vs bare answers) under one token
budget, 3 seeds, held-out GSM8K problems: per-seed loss and perplexity, the spread, the paired
test, exact match on the checkable references; a rerun reuses the scored runs and resumes a
run whose scoring was lost from its finished checkpoint (tiny settings: 2 steps, 16 new
tokens, one torch thread)."""

from __future__ import annotations

import json
import math
import random
import shutil
from importlib import resources

import pytest
import torch
from conftest import write_jsonl

from synthaug.cli import main
from synthaug.students.compare import draw

BUDGET = 400  # tokens per run: fewer than either dataset holds


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for this module's trainings (restored after: workers share torch)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def conversation(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}  # fmt: skip


def shipped(name: str) -> list[dict]:
    text = (resources.files("synthaug") / "data" / name).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    return sorted(rows, key=lambda r: len(r["question"]) + len(r.get("solution", r["answer"])))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    problems = shipped("gsm_symbolic.jsonl")[:16]  # the shortest
    worked = [conversation(r["question"], r["solution"]) for r in problems[:8]]
    bare = [conversation(r["question"], f"The answer is {r['answer']}.") for r in problems[8:]]
    gsm8k = [conversation(r["question"], r["answer"]) for r in shipped("benchmarks/gsm8k.jsonl")]
    # 3 checkable references (#### N) and one without a checkable answer
    test = [*gsm8k[:3], conversation("Name a primary colour.", "Red.")]
    return {
        "worked": write_jsonl(folder / "worked.jsonl", worked),
        "bare": write_jsonl(folder / "bare.jsonl", bare),
        "test": write_jsonl(folder / "test.jsonl", test),
    }


def evaluate(files, work, *extra) -> int:
    return main(["evaluate", str(files["worked"]), str(files["bare"]), "--student", "sft",
                 "--test", str(files["test"]), "--names", "worked,bare", "--seeds", "3",
                 "--max-steps", "2", "--batch-size", "1", "--max-new-tokens", "16",
                 "--exact-match-limit", "2", "--work-dir", str(work), *extra])  # fmt: skip


def test_sft_evaluate_compares_by_loss_and_exact_match_then_reuses_its_runs(
    tmp_path, files, capsys
):
    out, work = tmp_path / "report.json", tmp_path / "runs"
    assert evaluate(files, work, "--budget-tokens", str(BUDGET), "-o", str(out)) == 0
    printed = capsys.readouterr()
    assert "evaluate: 6/6 trainings" in printed.err  # 2 datasets x 3 seeds
    table = printed.out
    assert "| worked |" in table and "| bare |" in table
    assert "Δ loss vs baseline (lower is better)" in table and "budget 400 tokens" in table
    report = json.loads(out.read_text())
    assert report["budget"] == BUDGET and report["budget_unit"] == "tokens"
    assert report["seeds"] == [0, 1, 2] and report["test_rows"] == 4
    assert report["exact_match"] == {"checkable": 3, "scored": 2, "limit": 2,
                                     "max_new_tokens": 16}  # fmt: skip
    for entry in report["datasets"].values():
        runs = entry["runs"]
        assert len(runs["loss"]) == len(runs["perplexity"]) == len(runs["exact_match"]) == 3
        for loss, perplexity in zip(runs["loss"], runs["perplexity"], strict=True):
            assert loss > 0 and perplexity == pytest.approx(math.exp(loss))
        assert all(em in (0, 0.5, 1) for em in runs["exact_match"])  # of 2 scored problems
        assert entry["loss"]["std"] > 0 and entry["loss"]["ci95"] > 0  # seeds differ
        # each seed's draw stays within the token budget and leaves rows out
        assert all(0 < tokens <= BUDGET for tokens in entry["drawn"]["tokens"])
        assert all(0 < rows < entry["rows"] for rows in entry["drawn"]["rows"])
    versus = report["datasets"]["bare"]["vs_baseline"]
    assert versus["loss"]["test"] == "paired t-test (two-sided)"
    assert versus["loss"]["statement"] and versus["loss"]["p_value"] is not None
    assert "exact_match" in versus

    runs = sorted(work.glob("*/seed*"))
    assert len(runs) == 6
    for run in runs:
        scored = json.loads((run / "scores.json").read_text())
        assert len(scored["answers"]) == 2 and (run / "final" / "adapter_config.json").exists()
    adapters = {run: (run / "final" / "adapter_model.safetensors").stat().st_mtime_ns
                for run in runs}  # fmt: skip

    # a rerun after a kill: one run lost its scores and final adapters (killed after its
    # last checkpoint); the others are reused as they are
    lost = runs[0]
    (lost / "scores.json").unlink()
    shutil.rmtree(lost / "final")
    state = (lost / "checkpoint-2" / "trainer_state.json").stat().st_mtime_ns
    again = tmp_path / "again.json"
    assert evaluate(files, work, "--budget-tokens", str(BUDGET), "-o", str(again)) == 0
    assert json.loads(again.read_text())["datasets"] == report["datasets"]
    assert not (lost / "checkpoint-3").exists()  # resumed at its last step: no step more
    assert (lost / "checkpoint-2" / "trainer_state.json").stat().st_mtime_ns == state
    assert (lost / "final").exists() and (lost / "scores.json").exists()
    for run in runs[1:]:
        assert (run / "final" / "adapter_model.safetensors").stat().st_mtime_ns == adapters[run]


def test_token_draw_stops_before_the_budget_and_depends_only_on_the_seed():
    rows = [{"id": i, "n": random.Random(i).randint(5, 50)} for i in range(40)]
    cost = lambda row: row["n"]  # noqa: E731
    for seed in range(5):
        drawn = draw(rows, 200, seed, cost)
        assert drawn == draw(rows, 200, seed, cost) and drawn
        assert sum(map(cost, drawn)) <= 200
        # a budget of every token gives the whole shuffle: the draw is its prefix, and the
        # next row would have passed the budget
        whole = draw(rows, sum(map(cost, rows)), seed, cost)
        assert sorted(r["id"] for r in whole) == list(range(40))
        assert whole[: len(drawn)] == drawn
        assert sum(map(cost, whole[: len(drawn) + 1])) > 200
    assert draw(rows, 200, 0, cost) != draw(rows, 200, 1, cost)


def bad_files(tmp_path, files) -> dict[str, str]:
    question = {"messages": [{"role": "user", "content": "What is 2 + 2?"}]}
    return {
        "no_messages": str(write_jsonl(tmp_path / "text.jsonl", [{"text": "a", "label": "b"}])),
        "no_answer": str(write_jsonl(tmp_path / "asks.jsonl", [question])),
        "worked": str(files["worked"]),
    }


@pytest.mark.parametrize(
    ("data", "args", "expected"),
    [
        ("no_messages", [], "text.jsonl:1: field 'messages': missing required field"),
        ("no_answer", [], "asks.jsonl:1: field 'messages': the last turn is not an assistant"),
        ("worked", ["--budget", "99"], "--budget: must be 1-8"),
        ("worked", ["--budget-tokens", "999999"], "--budget-tokens: must be"),
        ("worked", ["--seeds", "2"], "--seeds: at least 3 seeds"),
        ("worked", ["--budget", "4", "--budget-tokens", "400"], "give one of them"),
    ],
)
def test_sft_evaluate_errors_are_one_line(tmp_path, files, capsys, data, args, expected):
    path = bad_files(tmp_path, files)[data]
    command = ["evaluate", path, "--student", "sft", "--test", str(files["test"]), *args]
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err
