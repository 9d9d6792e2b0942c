"""Model-based scores (AlpaGasus, Deita, IFD) and the selection steps."""

from __future__ import annotations

import asyncio
import json
import math
import shutil

import numpy as np
import pytest
from conftest import read_jsonl, run_cli, write_jsonl

from synthaug.engine.step import RowError, StepContext
from synthaug.llm.backend import Backend, wire_body
from synthaug.llm.client import LLMClient
from synthaug.llm.types import ChatRequest, Choice, Completion, TokenLogprob, Usage
from synthaug.methods.common.parsing import parse_rating
from synthaug.methods.selection.choose import IFDSelect, repr_filter
from synthaug.methods.selection.scores import (
    DIGITS,
    DeitaScores,
    InstructionFollowingDifficulty,
    answer_loss,
    digit_logprobs,
    expected_score,
    forced_grammar,
)
from synthaug.records import META

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


def test_deita_reads_the_digit_tokens_and_takes_the_softmax_expectation():
    # recorded from SmolLM2 under the complexity prompt: the chosen "1" and its top candidates
    top = [
        {"token": "The", "logprob": -1.285},
        {"token": "1", "logprob": -4.123},
        {"token": " 3", "logprob": -4.2},  # not the digit token the grammar allows
        {"token": "2", "logprob": -4.42},
    ]
    first = TokenLogprob(token="1", logprob=-4.123, top_logprobs=top)
    assert digit_logprobs(_completion([first])) == {"1": -4.123, "2": -4.42}
    # the chosen digit counts even when the backend lists no alternatives
    assert digit_logprobs(_completion([TokenLogprob(token="5", logprob=-0.7)])) == {"5": -0.7}
    weights = np.exp([-4.123, -4.42])
    assert expected_score({"1": -4.123, "2": -4.42}) == pytest.approx(
        float((np.array([1, 2]) * weights).sum() / weights.sum()), abs=1e-4
    )
    with pytest.raises(RowError) as none:
        expected_score({})
    assert none.value.kind == "no_digit"


class WithoutLogprobs(Backend):
    """The embedded model behind a server that ignores the ``logprobs`` option, as some
    OpenAI-compatible servers do."""

    name = "no-logprobs"

    def __init__(self, inner: Backend):
        super().__init__()
        self.inner = inner

    def identity(self, file_hash):
        return "no-logprobs:" + self.inner.identity(file_hash)

    async def complete(self, request: ChatRequest) -> Completion:
        answer = await self.inner.complete(request)
        choices = [choice.model_copy(update={"logprobs": None}) for choice in answer.choices]
        return answer.model_copy(update={"choices": choices})


def _row(instruction: str, output: str, extra: str = "", rid: str = "r1") -> dict:
    return {"instruction": instruction, "input": extra, "output": output, META: {"id": rid}}


def test_deita_without_log_probabilities_is_a_row_error(local_backend):
    # before: every reading fell back to 3.0, so each row scored 3 x 3 = 9 without a word
    ctx = StepContext(LLMClient(WithoutLogprobs(local_backend)), run_seed=0, step_name="deita")
    with pytest.raises(RowError) as refused:
        asyncio.run(DeitaScores().process(_row("Add the numbers.", "2 + 3 = 5", "2 and 3"), ctx))
    assert refused.value.kind == "no_logprobs"


def _exact_digit_softmax(backend, request: ChatRequest) -> tuple[float, int]:
    """The expectation over all six digits from the engine's raw top 200 (more than a
    request's OpenAI-style top 20 may ask for), and how many digits its top 20 lacks."""
    body = wire_body(request, model=None, schema_style="llamacpp")
    body["top_logprobs"] = 200
    first = backend._server.handle_chat_completions(body)["choices"][0]["logprobs"]["content"][0]
    ranked = [entry["token"] for entry in first["top_logprobs"]]
    logprobs = {e["token"]: e["logprob"] for e in first["top_logprobs"] if e["token"] in DIGITS}
    assert set(logprobs) == set(DIGITS), "a digit is outside the raw top 200"
    weights = {digit: math.exp(lp) for digit, lp in logprobs.items()}
    score = sum(int(d) * w for d, w in weights.items()) / sum(weights.values())
    return score, sum(digit not in ranked[:20] for digit in DIGITS)


def test_deita_scores_are_the_softmax_over_all_six_digits(local_backend):
    step, ctx = DeitaScores(), StepContext(LLMClient(local_backend), run_seed=0, step_name="d")
    row = _row("Add the numbers.", "2 + 3 = 5", "2 and 3")
    (record,) = asyncio.run(step.process(row, ctx))
    complexity, quality = step.requests(row, ctx)
    exact_c, missing_c = _exact_digit_softmax(local_backend, complexity)
    exact_q, missing_q = _exact_digit_softmax(local_backend, quality)
    assert missing_c + missing_q > 0, "the row must test digits outside the top 20"
    # digits outside the top 20 are read by forced requests, so nothing is left out
    assert record["deita_complexity"] == pytest.approx(exact_c, abs=2e-3)
    assert record["deita_quality"] == pytest.approx(exact_q, abs=2e-3)
    assert record["deita_complexity_missing_digits"] == missing_c
    assert record["deita_quality_missing_digits"] == missing_q
    assert len(record[META]["request"]) == 2 + missing_c + missing_q
    # without the forced reads the softmax is over the listed digits only, and differs
    (listed,) = asyncio.run(DeitaScores(read_missing=False).process(row, ctx))
    assert listed["deita_complexity_missing_digits"] == missing_c
    changed = [(listed["deita_complexity"], exact_c)] if missing_c else []
    changed += [(listed["deita_quality"], exact_q)] if missing_q else []
    assert all(abs(got - exact) > 2e-3 for got, exact in changed)


def test_ifd_helpers():
    assert forced_grammar('say "hi"\n') == 'root ::= "say \\"hi\\"\\n"'
    tokens = [
        TokenLogprob(token="Par", logprob=-1.0),
        TokenLogprob(token="is", logprob=-3.0),
        TokenLogprob(token="", logprob=-9.0),
    ]
    assert answer_loss(_completion(tokens)) == 2.0  # the end token is not part of the answer


def test_ifd_conditions_both_losses_on_the_reference_response_header(local_backend):
    step = InstructionFollowingDifficulty()
    ctx = StepContext(LLMClient(local_backend), run_seed=0, step_name="ifd")
    row = _row("What is the capital of France?", "Paris is the capital of France.")
    conditioned, alone = step.requests(row, ctx)
    assert alone.prompt == "### Response:"
    assert conditioned.prompt.startswith("Below is an instruction that describes a task. ")
    assert conditioned.prompt.endswith(
        "\n\n### Instruction:\n" + row["instruction"] + "\n\n### Response:"
    )
    with_input = step.requests(_row("Add the numbers.", "5", "2 and 3"), ctx)[0].prompt
    assert with_input.endswith("\n\n### Input:\n2 and 3\n\n### Response:")
    assert InstructionFollowingDifficulty(prompt="wiz").requests(row, ctx)[0].prompt == (
        row["instruction"] + "\n\n### Response:"
    )
    (record,) = asyncio.run(step.process(row, ctx))

    def loss_after(prompt: str) -> float:
        request = alone.model_copy(update={"prompt": prompt})
        return answer_loss(asyncio.run(local_backend.complete(request)))

    assert record["ifd_loss_answer"] == pytest.approx(loss_after("### Response:"), abs=2e-3)
    assert abs(record["ifd_loss_answer"] - loss_after(" ")) > 0.05  # the old conditioning
    assert record["ifd_loss_conditioned"] == pytest.approx(loss_after(conditioned.prompt), abs=2e-3)
    assert record["ifd"] == pytest.approx(
        record["ifd_loss_conditioned"] / record["ifd_loss_answer"], abs=1e-3
    )


def test_ifd_budget_is_a_rounded_down_share_of_the_rows_left_after_ifd_above_1():
    ifd = [0.9, 1.4, 0.5, 0.95, None, 0.7, 0.8, 2.0, 0.6, 0.95]
    rows = [{"ifd": value} for value in ifd]
    ctx = StepContext(llm=None, run_seed=0, step_name="select.ifd")
    # 7 rows left (two above 1, one unscored): int(7 x 0.5) = 3, not ceil(10 x 0.5) = 5
    assert sorted(IFDSelect(sample_rate=0.5).kept(rows, [], ctx)) == [0, 3, 9]
    # int(7 x 0.15) = 1: of the two rows tied at 0.95 the later is kept, as in the reference
    assert sorted(IFDSelect(sample_rate=0.15).kept(rows, [], ctx)) == [9]
    assert list(IFDSelect(sample_rate=0.1).kept(rows, [], ctx)) == []  # int(0.7) = 0


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
    assert len(rows) == len(ROWS)
    for row in rows:
        assert 0 <= row["alpagasus_score"] <= 5 and isinstance(row["alpagasus_keep"], bool)
        assert 1 <= row["deita_complexity"] <= 6 and 1 <= row["deita_quality"] <= 6
        assert row["deita_evol_score"] == pytest.approx(
            row["deita_complexity"] * row["deita_quality"], abs=1e-3
        )
        assert row["ifd"] > 0 and row["ifd_loss_conditioned"] > 0 and row["ifd_loss_answer"] > 0
        assert row["_meta"]["step"] == "score.ifd" and len(row["_meta"]["parents"]) == 1
    # the six digit probabilities differ from row to row: no fallback value stands in for them
    assert len({(r["deita_complexity"], r["deita_quality"]) for r in rows}) == len(ROWS)
    assert all(r["deita_complexity"] != 3.0 for r in rows)
    missing = [
        r["deita_complexity_missing_digits"] + r["deita_quality_missing_digits"] for r in rows
    ]
    expected_counts = {
        "missing_digits": sum(missing),
        "rows_missing_digits": sum(m > 0 for m in missing),
    }
    summary = json.loads((tmp_path / "scored.summary.json").read_text())
    (deita,) = [s for s in summary["steps"] if s["method"] == "score.deita"]
    assert deita["counts"] == expected_counts
    # one AlpaGasus call, two IFD calls, and per Deita reading one call plus a forced one
    # for each digit its top candidates lacked
    assert summary["llm"]["model_calls"] == len(ROWS) * (1 + 2 + 2) + sum(missing)
    assert "missing_digits=" in first.stdout
    (tmp_path / "scored.jsonl").unlink()  # resumed from the checkpoints: the same counts
    resumed = run_cli(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((tmp_path / "scored.summary.json").read_text())
    (deita,) = [s for s in summary["steps"] if s["method"] == "score.deita"]
    assert deita["reused_from_checkpoint"] == len(ROWS) and deita["counts"] == expected_counts
    assert read_jsonl(tmp_path / "scored.jsonl") == rows
    (tmp_path / "scored.jsonl").unlink()
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
    # 3 rows left after IFD > 1: int(3 x 0.5) = 1 row
    assert [r["ifd"] for r in read_jsonl(tmp_path / "ifd.jsonl")] == [0.95]
