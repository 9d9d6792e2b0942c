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


def test_decontaminate_all_modes_report_each_detector_and_every_verdict(tmp_path):
    """--mode all through the real CLI: overlap, fuzzy and semantic (real MiniLM, the embedded
    model as judge), each hit naming its detector, a judged row kept with its verdict."""
    questions = [
        {"qid": "ducks", "q": "Janet's ducks lay 16 eggs per day. She eats three for breakfast "
         "every morning and bakes muffins for her friends every day with four. She sells the "
         "remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars "
         "does she make every day at the farmers' market?"},
        {"qid": "robe", "q": "A robe takes 2 bolts of blue fiber and half that much white fiber. "
         "How many bolts in total does it take?"},
    ]  # fmt: skip
    write_jsonl(tmp_path / "bench.jsonl", questions)
    ducks = questions[0]["q"]
    typos = ducks
    for word, typo in (("ducks", "dukcs"), ("breakfast", "brekfast"), ("muffins", "mufins"),
                       ("remainder", "remaindr"), ("market daily", "markt daily"),
                       ("fresh", "frsh"), ("dollars", "dolars"), ("make", "mkae")):  # fmt: skip
        typos = typos.replace(word, typo)
    rows = [
        {"text": "Before. " + ducks},  # verbatim: every detector
        {"text": typos},  # no 13-gram survives: fuzzy
        {
            "text": "A bathrobe needs two bolts of blue cloth and half as much white cloth. "
            "How many bolts does it need altogether?"
        },
        {"text": "inclement weather prevents liar from getting to work"},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    result = run_cli(
        "decontaminate", "in.jsonl", "-o", "out.jsonl", "--columns", "text", "--mode", "all",
        "--benchmark", "bench.jsonl", "--benchmark-fields", "q", "--benchmark-id", "qid",
        "--benchmark-kind", "math", "--top-k", "2", "--min-similarity", "0.5",
        "--cache", "cache.sqlite3", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = read_jsonl(tmp_path / "out.report.jsonl")
    detectors = [{m["detector"] for m in r.get("matches", []) if m["contaminated"]} for r in report]
    assert {"overlap", "fuzzy"} <= detectors[0] and not report[0]["kept"]
    assert "fuzzy" in detectors[1] and "overlap" not in detectors[1] and not report[1]["kept"]
    assert set(report[0]["detectors"]) == detectors[0]
    semantic = [m for m in report[2]["matches"] if m["detector"] == "semantic"]
    assert semantic[0]["item_id"] == "robe" and semantic[0]["similarity"] >= 0.5
    assert semantic[0]["evidence"] in ("judge: True", "judge: False")
    assert report[2]["kept"] == (not any(m["contaminated"] for m in semantic))
    assert report[3] == {"row": 4, "id": None, "kept": True}
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert "SmolLM2-135M" in summary["settings"]["semantic"]
    assert "minilm:" in summary["settings"]["semantic"]
    assert summary["settings"]["benchmarks"] == "bench (2)"


def test_decontaminate_options_come_from_the_step_params(tmp_path):
    help_text = run_cli("decontaminate", "--help", cwd=tmp_path).stdout
    for option in ("--mode", "--fuzzy-threshold", "--top-k", "--min-similarity", "--no-judge",
                   "--embedder", "--benchmark-kind", "--judge-backend"):  # fmt: skip
        assert option in help_text, option
    bad = run_cli(
        "decontaminate", "x.jsonl", "-o", "o.jsonl", "--columns", "t", "--fuzzy-threshold", "2",
        cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "--fuzzy-threshold" in bad.stderr
