"""The classification student (real MiniLM + scikit-learn), ``synthaug evaluate`` and the
LLM2LLM loop on the embedded model: only wrong *seed* rows reach the teacher, records keep
iteration and parent, and a run killed mid-way resumes to the same records."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from conftest import resume_after_kill, write_jsonl

from synthaug.cli import main
from synthaug.errors import SynthaugError
from synthaug.llm.embeddings import MiniLM
from synthaug.methods.student.llm2llm import Iterate
from synthaug.records import META
from synthaug.students import ClassifierStudent
from synthaug.students.compare import paired_test


def headlines() -> list[dict]:
    path = resources.files("synthaug") / "data" / "sarcasm_headlines.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [{"text": r["text"], "label": r["label"]} for r in rows]


@pytest.fixture(scope="module")
def student() -> ClassifierStudent:
    return ClassifierStudent(MiniLM())


@pytest.fixture(scope="module")
def splits() -> tuple[list[dict], list[dict]]:
    rows = headlines()
    sarcastic = [r for r in rows if r["label"] == "sarcastic"]
    plain = [r for r in rows if r["label"] == "not_sarcastic"]
    return sarcastic[:30] + plain[:30], sarcastic[-60:] + plain[-60:]


def test_student_trains_predicts_and_scores_deterministically(student, splits):
    train, test = splits
    first, second = student.train(train, seed=3), student.train(train, seed=3)
    predicted = first.predict(test)
    assert predicted == second.predict(test)
    assert set(predicted) <= {"sarcastic", "not_sarcastic"}
    metrics = first.evaluate(test)
    right = sum(p == r["label"] for p, r in zip(predicted, test, strict=True))
    assert metrics.accuracy == right / len(test) and metrics.count == len(test)
    assert 0 < metrics.macro_f1 <= 1
    # a linear probe on sentence embeddings separates its own training set better than chance
    assert first.evaluate(train).accuracy > 0.5
    with pytest.raises(SynthaugError, match="two labels"):
        student.train([r for r in train if r["label"] == "sarcastic"])


def test_paired_test_reports_significance_and_the_no_variance_case():
    base = [0.60, 0.61, 0.59, 0.60, 0.62]
    clearly = paired_test(base, [b + 0.1 + 0.005 * i for i, b in enumerate(base)])
    assert clearly["p_value"] < 0.05 and clearly["statement"].startswith("significant")
    noise = paired_test(base, [0.61, 0.60, 0.60, 0.59, 0.62])
    assert noise["p_value"] > 0.05 and noise["statement"].startswith("not significant")
    constant = paired_test(base, [b + 0.02 for b in base])
    assert constant["p_value"] is None and "every seed" in constant["statement"]
    assert constant["difference"]["mean"] == pytest.approx(0.02)


def test_evaluate_command_compares_datasets_with_spread(tmp_path, splits, capsys):
    train, test = splits
    a = write_jsonl(tmp_path / "a.jsonl", train)
    # B: A's rows plus copies with a flipped label, so its student must be worse
    flipped = {"sarcastic": "not_sarcastic", "not_sarcastic": "sarcastic"}
    noisy = train[:30:2] + [{**r, "label": flipped[r["label"]]} for r in train[1::2]]
    b = write_jsonl(tmp_path / "b.jsonl", noisy)
    t = write_jsonl(tmp_path / "test.jsonl", test)
    out = tmp_path / "report.json"
    code = main(["evaluate", str(a), str(b), "--test", str(t), "--seeds", "3", "--budget", "40",
                 "--names", "clean,noisy", "--no-cache", "-o", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr()
    table = printed.out
    assert "| clean |" in table and "| noisy |" in table and "paired" in table
    assert "evaluate: 6/6 trainings" in printed.err  # progress: 2 datasets x 3 seeds
    report = json.loads(out.read_text())
    assert report["budget"] == 40 and report["seeds"] == [0, 1, 2]
    clean, noisy_entry = report["datasets"]["clean"], report["datasets"]["noisy"]
    assert len(clean["runs"]["accuracy"]) == 3 and clean["accuracy"]["std"] >= 0
    assert noisy_entry["accuracy"]["mean"] < clean["accuracy"]["mean"]
    versus = noisy_entry["vs_baseline"]["accuracy"]
    assert versus["test"] == "paired t-test (two-sided)" and versus["statement"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--seeds", "2"], "--seeds: at least 3 seeds"),
        (["--budget", "999"], "--budget: must be 1-"),
        (["--text-column", "headline"], "field 'headline'"),
    ],
)
def test_evaluate_errors_are_one_line(tmp_path, splits, capsys, args, expected):
    train, test = splits
    a = write_jsonl(tmp_path / "a.jsonl", train)
    t = write_jsonl(tmp_path / "test.jsonl", test)
    assert main(["evaluate", str(a), "--test", str(t), "--no-cache", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_llm2llm_reply_parsing_keeps_the_seed_label_and_drops_a_truncated_tail():
    step = Iterate()
    reply = (
        "Sure!\n1. Headline: nation's dogs demand shorter walks\nLabel: sarcastic\n"
        "2. Headline: senate passes budget\nLabel: not sarcastic\n"
        "3. Headline: area man unsure"
    )
    assert step.parse(reply, truncated=False, label="sarcastic") == [
        "nation's dogs demand shorter walks",
        "area man unsure",
    ]
    assert step.parse(reply, truncated=True, label="sarcastic") == [
        "nation's dogs demand shorter walks"
    ]


LLM2LLM_ARGS = [
    "llm2llm",
    "--set", "steps[0].params.path=seeds.jsonl",
    "--set", "steps[1].params.iterations=2",
    "--set", "steps[1].params.test_count=40",
    "--set", "steps[1].params.max_attempts=1",
    "--set", "steps[1].params.max_tokens=48",
    "--set", "steps[1].params.report_path=iterations.json",
    # llama.cpp's samples depend on thread count and batching: one slot, one thread
    "--set", "backend.deterministic=true",
    "--set", "backend.threads=1",
]  # fmt: skip


def test_llm2llm_recipe_sends_only_wrong_seeds_and_resumes(tmp_path, student):
    # 12 headlines, 3 of them twice with both labels: a small set the student otherwise fits,
    # so one row of each contradictory pair is a seed it must get wrong
    rows = headlines()[:6] + headlines()[-6:]
    flipped = {"sarcastic": "not_sarcastic", "not_sarcastic": "sarcastic"}
    write_jsonl(
        tmp_path / "seeds.jsonl", rows + [{**r, "label": flipped[r["label"]]} for r in rows[::4]]
    )
    records, summary, _ = resume_after_kill(tmp_path, *LLM2LLM_ARGS, after_calls=1)
    seeds = [r for r in records if r["llm2llm_iteration"] == 0]
    made = [r for r in records if r["llm2llm_iteration"] > 0]
    assert len(seeds) == 15 and made, "the teacher added no rows"
    assert all(r["llm2llm_parent"] is None for r in seeds)
    report = json.loads((tmp_path / "iterations.json").read_text())
    assert [line["iteration"] for line in report] == [0, 1, 2]
    assert all(0 <= line["test_accuracy"] <= 1 and line["test_rows"] == 40 for line in report)
    # the student the step trained first (the seeds, run seed 0) gets these wrong
    first = ClassifierStudent(student.embedder).train(seeds, seed=0)
    wrong = {r[META]["id"] for r, p in zip(seeds, first.predict(seeds), strict=True)
             if p != r["label"]}  # fmt: skip
    assert report[0]["wrong_seeds"] == len(wrong) >= 3
    seed_ids = {r[META]["id"] for r in seeds}
    for row in made:
        assert row["llm2llm_parent"] in seed_ids  # never a generated row
        assert row[META]["parents"] == [row["llm2llm_parent"]]
        parent = next(r for r in seeds if r[META]["id"] == row["llm2llm_parent"])
        assert row["label"] == parent["label"] and row["text"] != parent["text"]
    assert {r["llm2llm_parent"] for r in made if r["llm2llm_iteration"] == 1} <= wrong
    assert report[0]["new_rows"] == sum(r["llm2llm_iteration"] == 1 for r in made)
    assert summary["steps"][1]["rows_out"] == len(records)
