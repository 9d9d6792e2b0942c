"""Toolformer: the loss weights and the filter against the paper's formulas, position
selection, call parsing and insertion, and one small run on the embedded model whose
records carry losses consistent with the filter and results the calculator gives again."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, run_cli, summary_of

from synthaug.engine.step import StepContext
from synthaug.errors import InputError
from synthaug.methods.tool_use.toolformer import (
    APIS,
    Texts,
    insert_calls,
    keeps,
    loss_weights,
    parse_call,
    round_result,
    select_positions,
    weighted_loss,
)
from synthaug.tools.execute import run_calls
from synthaug.tools.registry import load_tools
from synthaug.verify.sandbox import Sandbox

CALCULATOR = APIS["Calculator"]


def paper_weights(count: int) -> list[float]:
    """w_t = max(0, 1 - 0.2 t) / Σ_s max(0, 1 - 0.2 s), straight from the paper."""
    raw = [max(0.0, 1 - 0.2 * t) for t in range(count)]
    return [w / sum(max(0.0, 1 - 0.2 * s) for s in range(20)) for w in raw]


def test_loss_weights_follow_the_paper():
    weights = loss_weights(0.2)
    assert len(weights) == 5  # w_5 = max(0, 1 - 1.0) = 0: five tokens count
    assert weights == pytest.approx(paper_weights(5))
    assert sum(weights) == pytest.approx(1.0)
    assert loss_weights(0.3) == pytest.approx([w / 2.2 for w in (1.0, 0.7, 0.4, 0.1)])


def test_weighted_loss_is_the_weighted_negative_log_likelihood():
    logprobs = [-1.0, -2.0, -0.5, -3.0, -0.25, -9.0, -9.0]  # tokens past the 5th weigh 0
    expected = -sum(w * lp for w, lp in zip(paper_weights(7), logprobs, strict=True))
    assert weighted_loss(logprobs, 0.2) == pytest.approx(expected)
    assert weighted_loss([-3.0], 0.2) == pytest.approx(3.0 * paper_weights(1)[0])  # a short end


def test_filter_keeps_a_call_only_when_l_minus_minus_l_plus_reaches_tau():
    # L⁻ = min(L(ε), L(e(c, ε))); keep iff L⁻ - L⁺ ≥ τ_f
    for plus, none, bare, tau in [(0.5, 2.0, 1.6, 1.0), (0.5, 2.0, 1.4, 1.0), (0.5, 1.5, 2.0, 1.0),
                                  (0.5, 1.25, 3.0, 1.0), (2.0, 2.5, 2.2, 0.1), (2.0, 1.0, 4.0, -2.0)]:  # fmt: skip
        assert keeps(plus, none, bare, tau) is (min(none, bare) - plus >= tau)
    assert keeps(0.5, 1.5, 2.0, 1.0)  # exactly τ_f: kept
    assert not keeps(0.5, 2.0, 1.4, 1.0)  # the call alone already helps: L⁻ is the lower one


def test_positions_above_tau_s_top_k_in_text_order():
    def at(offset: int, **starts: float) -> dict:
        return {"offset": offset, "token": f"t{offset}",
                "starts": {(" [" if k == "space" else "["): v for k, v in starts.items()}}  # fmt: skip

    tokens = [
        at(3, space=math.log(0.30)),
        at(9, space=math.log(0.04)),  # below τ_s
        at(12, space=math.log(0.03), bracket=math.log(0.03)),  # summed: 0.06 > τ_s
        at(20),  # no call start among the top candidates
        at(25, bracket=math.log(0.50)),
        at(31, space=math.log(0.20)),
    ]
    chosen = select_positions(tokens, threshold=0.05, top_k=3)
    assert [p["offset"] for p in chosen] == [3, 25, 31]  # the 3 likeliest, in text order
    assert [p["probability"] for p in chosen] == pytest.approx([0.30, 0.50, 0.20])
    assert [p["start"] for p in chosen] == [" [", "[", " ["]
    everything = select_positions(tokens, threshold=0.05, top_k=5)
    assert [p["offset"] for p in everything] == [3, 12, 25, 31]
    assert everything[1]["probability"] == pytest.approx(0.06)


def test_a_sampled_call_counts_only_when_it_closes():
    assert parse_call("723 / 252)] 2.87 per match") == "723 / 252"
    assert parse_call("(2 + 3) * 4)]") == "(2 + 3) * 4"
    assert parse_call("2011 - 1994") is None  # never closed (cut off or a newline)
    assert parse_call("2011 - 1994 and more] 17") is None
    assert parse_call(")]") is None


def test_kept_calls_are_inserted_with_their_results():
    text = "It was built in 1932 and closed in 1987, after 55 years."
    calls = [
        {"offset": text.index(" 55"), "start": " [", "argument": "1987 - 1932", "result": "55"},
        {"offset": text.index(" 1987"), "start": "[", "argument": "1932 + 55", "result": "1987"},
    ]
    calls = [{**call, "api": "Calculator"} for call in calls]
    assert insert_calls(text, calls) == (
        "It was built in 1932 and closed in[Calculator(1932 + 55) → 1987] 1987, after "
        "[Calculator(1987 - 1932) → 55] 55 years."
    )
    assert CALCULATOR.call("723 / 252", None) == "[Calculator(723 / 252) →]"


def test_results_are_rounded_to_two_places_as_in_the_paper():
    (tool,) = load_tools(["calculate"])
    calls = [
        {"name": "calculate", "arguments": {"expression": e}} for e in ("723 / 252", "2011 - 1994")
    ]
    results, _ = asyncio.run(run_calls(Sandbox(), calls, {"calculate": tool.implementation()}))
    assert [round_result(r["return"]) for r in results] == [f"{723 / 252:.2f}", "17"]


def test_texts_reject_a_text_that_is_not_a_string(tmp_path: Path):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "The bridge opened in 1932."}\n{"text": 42}\n')
    step = Texts(path=str(path))

    async def read() -> list:
        return [row async for row in step.rows(StepContext(llm=None, run_seed=0, step_name="t"))]

    with pytest.raises(InputError) as raised:
        asyncio.run(read())
    assert (raised.value.line, raised.value.field) == (2, "text")


# ----- the recipe end to end on the embedded model -----

TAU_F = 0.1  # lowered from the paper's 0.5: the 135M model's best gain here was 0.59
# k = 5 and τ_s = 0.05 (the paper's defaults for its other APIs) instead of the Calculator's
# k = 20 and τ_s = 0.0, to keep the run short


@pytest.fixture(scope="module")
def toolformer_run(tmp_path_factory) -> SimpleNamespace:
    """One small run: 3 texts, k = 5, τ_s = 0.05, m = 3 calls per position, τ_f = ``TAU_F``."""
    cwd = tmp_path_factory.mktemp("toolformer")
    out = cwd / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    done = run_cli("run", "toolformer", "--out", str(out),
                   "--set", "steps[0].params.count=3", "--set", "steps[2].params.samples=3",
                   "--set", "steps[1].params.top_k=5", "--set", "steps[1].params.threshold=0.05",
                   "--set", f"steps[3].params.threshold={TAU_F}", cwd=cwd, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return SimpleNamespace(cwd=cwd, out=out, env=env, records=read_jsonl(out))


def test_records_carry_positions_calls_and_losses_consistent_with_the_filter(toolformer_run):
    records = toolformer_run.records
    assert len(records) == 3  # every text is in C*, with or without calls
    candidates = [c for r in records for c in r["toolformer_candidates"]]
    assert candidates, "no call was sampled, executed and scored"
    for record in records:
        positions = record["toolformer_positions"]
        assert len(positions) <= 5 and all(p["probability"] > 0.05 for p in positions)
        assert all(record["text"][p["offset"] :].startswith(p["token"]) for p in positions)
        for c in record["toolformer_candidates"]:
            assert c["loss_minus"] == min(c["loss_none"], c["loss_no_result"])
            assert c["gain"] == pytest.approx(c["loss_minus"] - c["loss_plus"], abs=1e-5)
            assert c["kept"] == (c["loss_minus"] - c["loss_plus"] >= TAU_F)
        kept = record["toolformer_kept"]
        assert all(c["kept"] and c["gain"] >= TAU_F for c in kept)
        assert len({c["offset"] for c in kept}) == len(kept)  # at most one call per position
        assert record["augmented_text"] == insert_calls(record["text"], kept)
        for c in kept:
            assert CALCULATOR.call(c["argument"], c["result"]) in record["augmented_text"]
        assert ("verification" in record) == bool(kept)
    # every executed call's result is what the calculator returns again
    (tool,) = load_tools(["calculate"])
    calls = [c for r in records for c in r["toolformer_calls"]]
    again, _ = asyncio.run(run_calls(
        Sandbox(), [{"name": "calculate", "arguments": {"expression": c["query"]}} for c in calls],
        {"calculate": tool.implementation()},
    ))  # fmt: skip
    for call, rerun in zip(calls, again, strict=True):
        if "return" in call:
            assert rerun == {"return": call["return"]}
            assert call["result"] == round_result(call["return"])
        else:
            assert rerun["error"] == call["error"]
    steps = {s["name"]: s for s in summary_of(toolformer_run.out)["steps"]}
    assert steps["filter"]["rows_out"] == 3


def test_verify_re_runs_the_inserted_calls(toolformer_run):
    with_calls = [r for r in toolformer_run.records if r["toolformer_kept"]]
    assert with_calls, f"no call passed τ_f = {TAU_F}"
    done = run_cli("verify", str(toolformer_run.out), "--json", cwd=toolformer_run.cwd,
                   env=toolformer_run.env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == len(with_calls) == report["agreed"]
