"""Chart QA: the image store, tables and specs checked, charts drawn in a child process, answers
computed from the table, and the recipe on the embedded model (resumed after a kill, re-verified,
a corrupted answer caught)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, write_jsonl
from PIL import Image

from synthaug.io.images import ImageStore
from synthaug.media import chart_questions, ocr
from synthaug.media.charts import ChartError, chart_types, check_spec, normalise_table
from synthaug.media.render import render
from synthaug.verify.evidence import chart_verdict

RAW = {
    "title": "Rainfall by month",
    "x_label": "Month",
    "y_label": "Rainfall (mm)",
    "categories": ["Jan", " Feb ", "Mar", "Apr"],
    "series": [
        {"name": "Harbour", "values": [81.234, 60, 45.5, 70]},
        {"name": "Hills", "values": [120, 95.25, 60, 30]},
    ],
}
SPEC = {"type": "line", "palette": "tab10", "grid": True, "legend": "best", "value_labels": True}


def test_image_store_writes_each_content_once_by_hash(tmp_path):
    store = ImageStore.beside(tmp_path / "data.jsonl")
    first = store.put(b"\x89PNG one")
    assert first.startswith("images/") and first.endswith(".png")
    folder, name = first.split("/")[1:]
    assert len(folder) == 2 and len(name) == 62 + len(".png")  # sha256 split after 2 digits
    assert store.put(b"\x89PNG one") == first
    second = store.put(b"\x89PNG two")
    assert second != first and store.read(first) == b"\x89PNG one"
    files = sorted(p for p in (tmp_path / "images").rglob("*") if p.is_file())
    assert [f.relative_to(tmp_path).as_posix() for f in files] == sorted([first, second])


def test_a_killed_writers_temp_image_is_swept_by_the_next_run(tmp_path):
    store = ImageStore.beside(tmp_path / "data.jsonl")
    kept = store.path(store.put(b"\x89PNG kept"))
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs: its writer was killed mid-write
    stale = kept.with_name(f".{'e' * 62}.png.tmp-{dead.pid}")
    live = kept.with_name(f".{'f' * 62}.png.tmp-{os.getpid()}")  # a writer still running
    stale.write_bytes(b"half")
    live.write_bytes(b"in progress")
    (tmp_path / "recipe.yaml").write_text(json.dumps({
        "name": "sweep", "steps": [{"method": "load", "params": {"path": "rows.jsonl"}}]}))  # fmt: skip
    write_jsonl(tmp_path / "rows.jsonl", [{"text": "a"}])
    done = run_cli("run", "recipe.yaml", "--out", "data.jsonl", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and live.exists() and kept.read_bytes() == b"\x89PNG kept"


def test_tables_are_checked_and_rounded():
    table = normalise_table(RAW)
    assert table["categories"][1] == "Feb" and table["series"][0]["values"][0] == 81.23
    for bad in (
        {**RAW, "categories": ["Jan", "jan", "Mar", "Apr"]},
        {**RAW, "series": [{"name": "Harbour", "values": [1, 2, 3]}]},
        {**RAW, "series": [{"name": "Harbour", "values": [1, float("nan"), 3, 4]}]},
        {**RAW, "title": "   "},
        {"title": "no data"},
    ):
        with pytest.raises(ChartError):
            normalise_table(bad)
    assert "pie" not in chart_types(table)  # two series
    with pytest.raises(ChartError, match="cannot show"):
        check_spec({**SPEC, "type": "pie"}, table)
    one = normalise_table({**RAW, "series": RAW["series"][:1]})
    assert check_spec({**SPEC, "type": "pie"}, one)["type"] == "pie"


def test_answers_are_computed_from_the_table():
    table = normalise_table(RAW)
    hills = table["series"][1]["values"]
    asked = chart_questions.sample(table, "line", list(chart_questions.KINDS), seed=3)
    kinds = [q["kind"] for q in asked]
    assert "trend" in kinds and len(kinds) == len(set(kinds))
    assert "trend" not in chart_questions.applicable(table, "bar")
    sums = chart_verdict(table, "sum", {"series": "Hills"})
    assert float(sums["answer"]) == pytest.approx(sum(hills))
    trend = chart_verdict(table, "trend", {"series": "Hills"})
    assert trend["answer"] == ("decrease" if hills[-1] < hills[0] else "increase")
    top = chart_verdict(table, "extreme", {"series": "Hills", "which": "highest"})
    assert top["answer"] == table["categories"][hills.index(max(hills))]
    markdown = chart_verdict(table, "table", {})["answer"]
    assert markdown.count("\n") == len(table["categories"]) + 1 and "81.23" in markdown
    tie = normalise_table({**RAW, "series": [{"name": "Flat", "values": [5, 5, 1, 2]}]})
    assert chart_questions.answer(tie, "extreme", {"series": "Flat", "which": "highest"}) is None


def test_charts_are_drawn_deterministically_in_a_child_process():
    table = normalise_table(RAW)
    first = asyncio.run(render("chart", table=table, spec=SPEC))
    second = asyncio.run(render("chart", table=table, spec={**SPEC, "type": "bar"}))
    again = asyncio.run(render("chart", table=table, spec=SPEC))
    assert first == again and first != second
    picture = Image.open(io.BytesIO(first))
    assert picture.format == "PNG" and picture.size == (640, 480)


def test_ocr_reads_a_drawn_chart_and_flags_a_label_it_cannot_find(tmp_path):
    table = normalise_table(RAW)
    picture = tmp_path / "chart.png"
    picture.write_bytes(asyncio.run(render("chart", table=table, spec=SPEC)))
    labels = {"title": table["title"], "x_label": table["x_label"], "y_label": table["y_label"]}
    reading = ocr.legibility(picture, labels)
    assert reading["passed"] is True, reading["read"]
    absent = ocr.legibility(picture, {**labels, "note": "Quarterly revenue of zeppelins"})
    assert absent["legible"]["note"] is False and absent["passed"] is False
    assert ocr.found("Rainfall (mm)", ["Rainfal (mm)"], 0.8)  # one letter lost


def test_bad_parameters_give_exit_2_with_the_yaml_path(tmp_path):
    bad = run_cli("run", "chart_qa", "--set", "steps[5].params.kinds=[colour]", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[5].params" in bad.stderr
    assert "Traceback" not in bad.stderr


ARGS = [
    "chart_qa",
    "--set", "steps[0].params.count=3",
    "--set", "steps[0].params.min_categories=3",
    "--set", "steps[0].params.max_categories=3",
    "--set", "steps[0].params.max_series=1",
    "--set", "steps[1].params.max_tokens=160",
    "--set", "steps[2].params.max_tokens=64",
]  # fmt: skip


def test_recipe_resumes_after_kill_and_every_answer_reverifies(tmp_path):
    records, summary, _ = resume_after_kill(tmp_path, *ARGS, after_calls=1)
    images = {r["image"] for r in records}
    files = [p for p in (tmp_path / "images").rglob("*") if p.is_file()]
    assert len(files) == len(images), "an image was written twice or is missing"
    assert not [p for p in files if ".tmp-" in p.name]
    for record in records:
        assert (tmp_path / record["image"]).is_file()
        assert record["_meta"]["method"] == "chart_qa.questions"
        assert record["messages"][-1]["content"] == record["answer"]
        assert record["verification"]["table"] == record["table"]
        assert record["ocr"]["engine"] == "rapidocr-onnxruntime" and record["ocr"]["read"]
        assert record["ocr"]["passed"] == all(record["ocr"]["legible"].values())
    ocr_step = next(s for s in summary["steps"] if s["method"] == "chart_qa.ocr")
    assert sum(ocr_step.get("counts", {}).values()) == ocr_step["rows_out"]
    report = run_cli("verify", str(tmp_path / "data.jsonl"), "--json", "--quiet", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    checked = json.loads(report.stdout)
    assert checked["by_kind"]["chart_qa"] == {"checked": len(records), "agreed": len(records)}

    corrupted = [dict(r) for r in records]
    victim = next(i for i, r in enumerate(corrupted) if r["question_kind"] in ("sum", "value"))
    wrong = dict(corrupted[victim]["verification"])
    wrong["answer"] = chart_questions.number(float(wrong["answer"]) + 1)
    corrupted[victim]["verification"] = wrong
    bad = write_jsonl(tmp_path / "corrupted.jsonl", corrupted)
    failed = run_cli("verify", str(bad), "--json", "--quiet", cwd=tmp_path)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["disagreements"] == [corrupted[victim]["_meta"]["id"]]
    assert read_jsonl(bad)[victim]["verification"]["answer"] != records[victim]["answer"]
