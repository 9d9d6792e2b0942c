"""Model-based scores (AlpaGasus, Deita, IFD) and the selection steps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import read_jsonl, run_cli, write_jsonl

from synthaug.engine.step import RowError
from synthaug.llm.types import Choice, Completion, TokenLogprob, Usage
from synthaug.methods.common.parsing import parse_rating
from synthaug.methods.selection.choose import repr_filter
from synthaug.methods.selection.scores import answer_loss, expected_digit_score, forced_grammar

# recorded from SmolLM2-135M under the rating schema (the second was cut by max_tokens)
RATING_FULL = '{"score": 4.5, "explanation": "The response answers the question accurately."}'
RATING_CUT = '{"score": 0.8, "explanation": "The provided response is 8 out of 10 on the accur'


def _completion(tokens: list[TokenLogprob]) -> Completion:
    return Completion(
        choices=[Choice(text="".join(t.token for t in tokens), logprobs=tokens)], usage=Usage()
    )


def test_parse_rating_full_and_truncated():
    assert parse_rating(RATING_FULL) == (4.5, "The response answers the question accurately.")
    assert parse_rating(RATING_CUT) == (0.8, "")
    with pytest.raises(RowError):
        parse_rating('{"explanation": "none"}')


def test_deita_expected_score_is_a_softmax_over_listed_digits():
    # recorded top log-probabilities of the first token under the complexity prompt
    top = [
        {"token": "The", "logprob": -1.268},
        {"token": "3", "logprob": -2.0},
        {"token": "1", "logprob": -4.454},
        {"token": "5", "logprob": -2.0},
    ]
    score = expected_digit_score(
        _completion([TokenLogprob(token="3", logprob=-2.0, top_logprobs=top)])
    )
    weights = np.exp([-2.0, -4.454, -2.0])
    assert score == pytest.approx(
        float((np.array([3, 1, 5]) * weights).sum() / weights.sum()), abs=1e-4
    )
    no_digit = [TokenLogprob(token="A", logprob=-1, top_logprobs=[{"token": "A", "logprob": -1}])]
    assert expected_digit_score(_completion(no_digit)) == 3.0


def test_ifd_helpers():
    assert forced_grammar('say "hi"\n') == 'root ::= "say \\"hi\\"\\n"'
    tokens = [
        TokenLogprob(token="Par", logprob=-1.0),
        TokenLogprob(token="is", logprob=-3.0),
        TokenLogprob(token="", logprob=-9.0),
    ]
    assert answer_loss(_completion(tokens)) == 2.0  # the end token is not part of the answer


def test_repr_filter_takes_best_first_and_skips_near_copies():
    vectors = np.array([[1.0, 0.0], [0.995, 0.0998], [0.0, 1.0], [0.6, 0.8]])
    assert repr_filter(vectors, [9.0, 8.0, 7.0, 1.0], budget=3, threshold=0.9) == [0, 2, 3]
    assert repr_filter(vectors, [9.0, 8.0, 7.0, 1.0], budget=2, threshold=0.9) == [0, 2]


ROWS = [
    {
        "instruction": "What is the capital of France?",
        "input": "",
        "output": "Paris is the capital of France.",
    },
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "2 + 3 = 5"},
    {"instruction": "Name a color.", "input": "", "output": "I don't know."},
]


def test_score_command_on_the_embedded_model_and_warm_rerun(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", ROWS)
    args = ("score", "in.jsonl", "-o", "scored.jsonl", "--cache", "cache.sqlite3", "--quiet")
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    rows = read_jsonl(tmp_path / "scored.jsonl")
    assert len(rows) == 3
    for row in rows:
        assert 0 <= row["alpagasus_score"] <= 5 and isinstance(row["alpagasus_keep"], bool)
        assert 1 <= row["deita_complexity"] <= 6 and 1 <= row["deita_quality"] <= 6
        assert row["deita_evol_score"] == pytest.approx(
            row["deita_complexity"] * row["deita_quality"], abs=1e-3
        )
        assert row["ifd"] > 0 and row["ifd_loss_conditioned"] > 0 and row["ifd_loss_answer"] > 0
        assert row["_meta"]["step"] == "score.ifd" and len(row["_meta"]["parents"]) == 1
    summary = json.loads((tmp_path / "scored.summary.json").read_text())
    assert summary["llm"]["model_calls"] == 3 * (1 + 2 + 2)
    (tmp_path / "scored.jsonl").unlink()
    import shutil

    shutil.rmtree(tmp_path / ".scored.run")
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "scored.summary.json").read_text())["llm"]["model_calls"] == 0
    assert read_jsonl(tmp_path / "scored.jsonl") == rows


def test_score_command_rejects_unknown_methods(tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    result = run_cli("score", "in.jsonl", "-o", "o.jsonl", "--methods", "alpaca", cwd=tmp_path)
    assert result.returncode == 2 and "unknown alpaca" in result.stderr


def test_selection_steps_in_a_recipe(tmp_path):
    rows = [
        {"instruction": "Write a poem about the sea.", "deita_evol_score": 20.0, "ifd": 0.9},
        {"instruction": "WRITE A POEM ABOUT THE SEA.", "deita_evol_score": 19.0, "ifd": 0.95},
        {"instruction": "Explain how a bicycle gear works.", "deita_evol_score": 12.0, "ifd": 1.4},
        {"instruction": "List three prime numbers.", "deita_evol_score": 5.0, "ifd": 0.5},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    (tmp_path / "deita.yaml").write_text(
        "name: deita\nsteps:\n  - method: load\n    params: {path: in.jsonl}\n"
        "  - method: select.deita\n    params: {budget: 3, columns: [instruction]}\n"
    )
    (tmp_path / "ifd.yaml").write_text(
        "name: ifd\nsteps:\n  - method: load\n    params: {path: in.jsonl}\n"
        "  - method: select.ifd\n    params: {sample_rate: 0.5}\n"
    )
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    deita = run_cli("run", "deita.yaml", "--out", "deita.jsonl", "--quiet", cwd=tmp_path, env=env)
    assert deita.returncode == 0, deita.stderr
    kept = [r["instruction"] for r in read_jsonl(tmp_path / "deita.jsonl")]
    assert kept == [rows[0]["instruction"], rows[2]["instruction"], rows[3]["instruction"]]
    ifd = run_cli("run", "ifd.yaml", "--out", "ifd.jsonl", "--quiet", cwd=tmp_path, env=env)
    assert ifd.returncode == 0, ifd.stderr
    assert [r["ifd"] for r in read_jsonl(tmp_path / "ifd.jsonl")] == [0.9, 0.95]
