"""The curation commands and steps, end to end through the real CLI."""

from __future__ import annotations

import json

import pytest
from conftest import read_jsonl, run_cli, write_jsonl
from curation_corpus import mt_bench_texts, near_dup_corpus, seed_texts


@pytest.fixture
def corpus(tmp_path):
    texts = near_dup_corpus()
    texts.append("Tell me: " + mt_bench_texts()[3])
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(texts)))
    return path, texts


def test_dedup_near_writes_kept_rows_report_and_summary(corpus, tmp_path):
    path, texts = corpus
    result = run_cli("dedup", str(path), "-o", "out.jsonl", "--columns", "text", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "catch probability at threshold: 0.9977" in result.stdout
    kept = read_jsonl(tmp_path / "out.jsonl")
    report = read_jsonl(tmp_path / "out.report.jsonl")
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert len(report) == len(texts) and [r["row"] for r in report] == list(
        range(1, len(texts) + 1)
    )
    dropped = [r for r in report if not r["kept"]]
    assert len(kept) + len(dropped) == len(texts) and dropped
    assert {r["reason"] for r in dropped} == {"near_duplicate"}
    assert all(r["similarity"] >= 0.8 and r["partner_row"] < r["row"] for r in dropped)
    assert summary["rows_in"] == len(texts) and summary["rows_out"] == len(kept)
    assert summary["dropped"] == {"near_duplicate": len(dropped)}


def test_dedup_exact_keep_score(tmp_path):
    rows = [{"t": "Same  text", "s": 1}, {"t": "same text", "s": 3}, {"t": "other", "s": 0}]
    write_jsonl(tmp_path / "in.jsonl", rows)
    result = run_cli(
        "dedup",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--columns",
        "t",
        "--mode",
        "exact",
        "--keep",
        "score",
        "--score-column",
        "s",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [r["s"] for r in read_jsonl(tmp_path / "out.jsonl")] == [3, 0]
    assert read_jsonl(tmp_path / "out.report.jsonl")[0]["partner_row"] == 2


def test_decontaminate_reports_benchmark_item_and_ngram(corpus, tmp_path):
    path, texts = corpus
    result = run_cli(
        "decontaminate",
        str(path),
        "-o",
        "clean.parquet",
        "--columns",
        "text",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = read_jsonl(tmp_path / "clean.report.jsonl")
    dropped = [r for r in report if not r["kept"]]
    planted = [r for r in dropped if r["row"] == len(texts)]
    assert planted and planted[0]["matches"][0]["benchmark"] == "mt_bench"
    assert (
        planted[0]["matches"][0]["item_id"] == "84"
        and len(planted[0]["matches"][0]["evidence"].split()) == 13
    )
    # the corpus holds the MT-Bench questions (and edited copies), never HumanEval...
    questions, seeds = set(mt_bench_texts()), set(seed_texts())
    dropped_texts = {texts[r["row"] - 1] for r in dropped}
    assert questions <= dropped_texts and not seeds & dropped_texts
    # ... but one MT-Bench math question is GSM8K test item 326 with other numbers, and shares
    # the 13-gram "some people got on a bus at the terminal at the first bus" with it
    assert {m["benchmark"] for r in dropped for m in r["matches"]} == {"mt_bench", "gsm8k"}
    gsm8k = {
        (m["item_id"], m["evidence"])
        for r in dropped
        for m in r["matches"]
        if m["benchmark"] == "gsm8k"
    }
    assert gsm8k == {("326", "some people got on a bus at the terminal at the first bus")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["dedup", "missing.jsonl", "-o", "o.jsonl", "--columns", "text"],
            "missing.jsonl: no such file",
        ),
        (["dedup", "in.jsonl", "-o", "o.jsonl", "--columns", "nope"], "in.jsonl:1: field 'nope'"),
        (["dedup", "bad.jsonl", "-o", "o.jsonl", "--columns", "text"], "bad.jsonl:2:"),
        (
            ["dedup", "in.jsonl", "-o", "o.jsonl", "--columns", "text", "--keep", "score"],
            "--score-column",
        ),
        (["dedup", "in.jsonl", "-o", "in.jsonl", "--columns", "text"], "overwrite the input"),
        (["dedup", "in.jsonl", "-o", "o.txt", "--columns", "text"], "cannot write format"),
        (
            [
                "decontaminate",
                "in.jsonl",
                "-o",
                "o.jsonl",
                "--columns",
                "text",
                "--benchmark",
                "no_such_bench",
            ],
            "unknown benchmark",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, args, message):
    (tmp_path / "in.jsonl").write_text('{"text": "a b c"}\n')
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n')
    result = run_cli(*args, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.report.jsonl").exists()
    assert (tmp_path / "in.jsonl").read_text() == '{"text": "a b c"}\n'


@pytest.mark.parametrize("command", ["dedup", "decontaminate"])
def test_help(command, tmp_path):
    result = run_cli(command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "--columns" in result.stdout


def test_curation_steps_in_a_recipe(corpus, tmp_path):
    path, _ = corpus
    (tmp_path / "recipe.yaml").write_text(
        f"""
name: curate
output: curated.jsonl
steps:
  - method: load
    params: {{path: {path}}}
  - method: dedup_exact
    params: {{columns: [text]}}
  - method: dedup_near
    params: {{columns: [text]}}
  - method: decontaminate
    params: {{columns: [text], action: flag}}
"""
    )
    result = run_cli("run", "recipe.yaml", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_jsonl(tmp_path / "curated.jsonl")
    direct = run_cli(
        "dedup", str(path), "-o", "d.jsonl", "--columns", "text", "--quiet", cwd=tmp_path
    )
    assert direct.returncode == 0
    assert [r["n"] for r in rows] == [r["n"] for r in read_jsonl(tmp_path / "d.jsonl")]
    flagged = [r for r in rows if r["contamination"]]
    assert flagged and all(r["_meta"]["id"] for r in rows)
    assert flagged[-1]["contamination"][0]["benchmark"] == "mt_bench"
