"""MetaCritique (AIU precision, recall, F1), CriticBench-style critiques and CycleAlign
(ranking agreement): each method's defining rule, checked on real outputs of the embedded
model, and the bad-parameter errors of the critique recipes."""

from __future__ import annotations

import random
from collections import Counter
from itertools import combinations, pairwise

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, run_recipe_twice, summary_of

from synthaug.methods.preference.criticbench import confusion, critique_f1, parse_verdict
from synthaug.methods.preference.cyclealign import longest_common_subsequence
from synthaug.methods.preference.metacritique import (
    Score,
    f1_score,
    meta_scores,
    share_true,
    verdict,
)
from synthaug.verify.evidence import answer_verdict

SMALL = ("--set", "backend.deterministic=true", "--set", "backend.threads=1", "--limit", "1")


def errors_of(tmp_path) -> list[dict]:
    path = tmp_path / "data.errors.jsonl"
    return read_jsonl(path) if path.exists() else []


def test_metacritique_scores_from_verified_aius(tmp_path):
    assert f1_score(0.5, 1.0) == pytest.approx(2 / 3) and f1_score(0, 1) == 0
    assert verdict("x\nTherefore, the claim is true.") and verdict("... claim is false.") is False
    assert verdict("no idea") is None and share_true([True, None, False, True]) == 0.5
    labels = [
        {"precision": 0.5, "recall": 1.0, "f1": 0.6667},
        {"precision": 1, "recall": 0, "f1": 0},
    ]
    summed = Counter()
    for label in labels:
        summed.update(Score().row_counts({"metacritique": label}))
    assert meta_scores(summed) == pytest.approx(
        {"meta_precision": 0.75, "meta_recall": 0.5, "meta_f1": 0.33335}
    )  # Meta-F1 is the mean of the rows' F1, not the F1 of Meta-P and Meta-R
    records = run_recipe_twice(
        tmp_path, "metacritique", *SMALL,
        "--set", "steps[1].params.max_tokens=24",
        "--set", "steps[2].params.max_tokens=24",
        "--set", "steps[3].params.max_tokens=32",
        "--set", "steps[4].params.max_tokens=32",
        "--set", "steps[5].params.max_aius=2",
        "--set", "steps[5].params.rationale_chars=60",
        "--set", "steps[5].params.max_tokens=48",
    )  # fmt: skip
    rows = records + errors_of(tmp_path)
    assert len(rows) == 1
    [step] = [
        s for s in summary_of(tmp_path / "data.jsonl")["steps"]
        if s["method"] == "metacritique.score"
    ]  # fmt: skip
    counts = step.get("counts", {})
    if not records:  # the model wrote no claim: counted, not dropped silently
        assert rows[0]["_meta"]["error"]["kind"] == "no_aius"
        assert meta_scores(counts) == {}
        return
    [record] = records
    label = record["metacritique"]
    mine, theirs = label["critique_aius"], label["reference_aius"]
    assert 1 <= len(mine) <= 2 and 1 <= len(theirs) <= 2
    assert label["precision"] == round(share_true([u["true"] for u in mine]), 4)
    assert label["recall"] == round(share_true([u["true"] for u in theirs]), 4)
    p, r = share_true([u["true"] for u in mine]), share_true([u["true"] for u in theirs])
    assert label["f1"] == round(f1_score(p, r), 4)
    assert all(u["true"] in (True, False) and u["rationale"] for u in mine + theirs)
    assert record["critique"] != record["reference_critique"]
    assert len(record["_meta"]["request"]) == 2 + len(mine) + len(theirs)
    # the dataset's Meta-P/R/F1: the means of the rows' scores, from the summary's counts
    assert counts["scored"] == len(records)
    assert meta_scores(counts) == pytest.approx(
        {f"meta_{k}": sum(r["metacritique"][k] for r in records) / len(records)
         for k in ("precision", "recall", "f1")}
    )  # fmt: skip


def test_criticbench_critiques_with_known_correctness(tmp_path):
    assert parse_verdict("x\nSo the verdict is: [[wrong]]") is False
    assert parse_verdict("fine [[correct]]") is True and parse_verdict("hm") is None
    assert confusion(False, None) == {"wrong_tp": 0, "wrong_fp": 0, "wrong_fn": 1, "wrong_tn": 0}
    records = run_recipe_twice(
        tmp_path, "criticbench", *SMALL,
        "--set", "steps[1].params.per_prompt=2",
        "--set", "steps[1].params.max_tokens=48",
        "--set", "steps[2].params.reasoning_chars=80",
        "--set", "steps[2].params.max_tokens=48",
    )  # fmt: skip
    assert len(records) == 2  # one record per sampled solution
    totals = dict.fromkeys(("wrong_tp", "wrong_fp", "wrong_fn", "wrong_tn"), 0)
    for record in records:
        again = answer_verdict(record["response"], str(record["answer"]))
        assert record["response_label"] == again["verified"] == record["verification"]["verified"]
        assert record["critique_verdict"] in (True, False) and record["critique"]
        assert record["critique_agrees"] == (record["critique_verdict"] == record["response_label"])
        for key, n in confusion(record["response_label"], record["critique_verdict"]).items():
            totals[key] += n
    [step] = [s for s in summary_of(tmp_path / "data.jsonl")["steps"] if s["name"] == "critique"]
    assert {k: step["counts"].get(k, 0) for k in totals} == totals
    assert critique_f1(totals) == (
        0.0 if totals["wrong_tp"] == 0
        else 2 * totals["wrong_tp"] / (2 * totals["wrong_tp"] + totals["wrong_fp"] + totals["wrong_fn"])
    )  # fmt: skip


def test_cyclealign_agreement_is_the_longest_common_subsequence():
    def common(sub: list[int], ranking: list[int]) -> bool:
        positions = [ranking.index(x) for x in sub]
        return positions == sorted(positions)

    rng = random.Random(0)
    for _ in range(200):
        first = rng.sample(range(5), 5)
        second = rng.sample(range(5), 5)
        found = longest_common_subsequence(first, second)
        assert common(found, first) and common(found, second)
        best = max(
            len(sub)
            for k in range(6)
            for sub in map(list, combinations(first, k))
            if common(sub, second)
        )
        assert len(found) == best
    assert longest_common_subsequence([0, 2, 1], [2, 0, 1]) == [0, 1]  # keeps the white box's top


def test_cyclealign_recipe_pairs_from_the_agreement(tmp_path):
    records = run_recipe_twice(
        tmp_path, "cyclealign", *SMALL,
        "--set", "steps[1].params.per_prompt=3",
        "--set", "steps[1].params.max_tokens=16",
        "--set", "steps[2].params.max_tokens=40",
    )  # fmt: skip
    rows = records + errors_of(tmp_path)
    assert rows
    if not records:
        assert rows[0]["_meta"]["error"]["kind"] == "no_agreement"
        return
    label = records[0]["cyclealign"]
    scores, white = label["scores"], label["ranking"]
    assert all(s < 0 for s in scores)  # mean token log-probabilities of the white box
    assert white == sorted(range(3), key=lambda i: (-scores[i], i))
    agreements = [played["agreement"] for played in label["rounds"]]
    for played in label["rounds"]:
        assert played["agreement"] == longest_common_subsequence(white, played["black_box"])
    # the cycle goes on while the agreement changes, up to 3 rounds
    assert all(a != b for a, b in pairwise(agreements[:-1]))
    assert len(agreements) == 3 or agreements[-1] == agreements[-2]
    final = label["agreement"]
    assert (
        final == label["rounds"][-1]["agreement"]
        and len(records) == len(final) * (len(final) - 1) // 2
    )
    for pair in records:
        assert final.index(pair["chosen_index"]) < final.index(pair["rejected_index"])
        assert pair["chosen"] != pair["rejected"] or pair["chosen_index"] != pair["rejected_index"]


def test_cyclealign_resumes_after_kill_without_repeating_calls(tmp_path):
    """Two prompts, one slot; killed among the sampled responses and resumed
    (``resume_after_kill``); every pair still follows its row's final agreement."""
    records, _, _ = resume_after_kill(
        tmp_path, "cyclealign", *SMALL, "--limit", "2",
        "--set", "backend.parallel=1",
        "--set", "steps[1].params.per_prompt=3",
        "--set", "steps[1].params.max_tokens=16",
        "--set", "steps[2].params.max_tokens=40",
        after_calls=2,
    )  # fmt: skip
    assert len(records) + len(errors_of(tmp_path)) >= 1
    for pair in records:
        final = pair["cyclealign"]["agreement"]
        assert final.index(pair["chosen_index"]) < final.index(pair["rejected_index"])


@pytest.mark.parametrize(
    ("recipe", "override", "message"),
    [
        ("self_judge_rejection", "steps[2].params.judging=fair", "steps[2].params.judging"),
        ("metacritique", "steps[2].params.kind=essay", "steps[2].params.kind"),
        ("cyclealign", "steps[2].params.rounds=0", "steps[2].params.rounds"),
        ("criticbench", "steps[2].params.task=poem", "steps[2].params.task"),
    ],
)
def test_bad_params_are_one_line_errors(tmp_path, recipe, override, message):
    result = run_cli("run", recipe, "--set", override, "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
