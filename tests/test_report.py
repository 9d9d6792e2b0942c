"""``synthaug report`` on a real Self-Instruct run and on a file curated from it, and on the
preference pairs of a real Self-Rewarding run with their DPO and reward-model exports, opened
in Debian's chromium with the network off: every section renders, figures match the run's
summary JSON and the pairs themselves, plots are drawn."""

from __future__ import annotations

import io
import json

import pytest
from conftest import SMALL_SELF_REWARDING, copy_run, read_jsonl, run_cli, summary_of
from PIL import Image

from synthaug.export.formats import ExportOptions, convert
from synthaug.report.preference import Pair, PairCounts, pair_of


@pytest.fixture(scope="module")
def run_output(self_instruct_run, tmp_path_factory):
    """A small real Self-Instruct run (the embedded model) and a near-dedup of it."""
    workdir = tmp_path_factory.mktemp("report")
    out = copy_run(self_instruct_run, workdir)
    curated = workdir / "curated.jsonl"
    dedup = ["dedup", str(out), "-o", str(curated), "--columns", "instruction", "--mode", "exact"]
    assert run_cli(*dedup, cwd=workdir).returncode == 0
    return out, curated


def open_offline(browser, path):
    """The page at ``path`` in a context with the network off; the URLs it asked for."""
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(path.as_uri())
    return page, asked


def drawn_pixels(png: bytes) -> int:
    return sum(1 for value in Image.open(io.BytesIO(png)).convert("L").getdata() if value < 200)


def test_report_of_a_run_matches_its_summary_offline(run_output, browser, tmp_path):
    out, _ = run_output
    target = tmp_path / "report.html"
    made = run_cli("report", str(out), "-o", str(target), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    rows = len(read_jsonl(out))
    assert f"report: {target} ({rows} rows)" in made.stdout
    assert made.stderr.startswith(f"report reading: {rows}/{rows} rows | ")  # the progress line
    summary = summary_of(out)
    page, asked = open_offline(browser, target)
    for section in ("funnel", "model", "errors", "texts", "values", "lineage", "samples"):
        assert page.locator(f"section#{section}").count() == 1, section
    for step in summary["steps"]:
        row = page.locator(f'tr[data-step="{step["name"]}"] td.out')
        assert row.inner_text() == str(step["rows_out"])
    assert page.locator("#model-calls").inner_text() == str(summary["llm"]["model_calls"])
    plots = page.locator("figure svg")
    assert plots.count() >= 4
    for i in range(plots.count()):
        assert drawn_pixels(plots.nth(i).screenshot()) > 300, f"plot {i} is empty"
    assert page.locator('figure[data-column="instruction"]').count() == 1
    # a sample record's lineage reaches back through the checkpointed steps
    lineage = page.locator("#lineage details").first.inner_text()
    assert "records" in lineage and "instances" in lineage and "classify" in lineage
    assert all(url.startswith("file:") for url in asked), asked


def test_report_of_a_curated_file_shows_what_was_removed(run_output, browser, tmp_path):
    _, curated = run_output
    assert run_cli("report", str(curated), cwd=tmp_path).returncode == 0
    summary = json.loads(curated.with_name("curated.summary.json").read_text())
    page, asked = open_offline(browser, curated.with_suffix(".report.html"))
    assert page.locator("section#curation h2").inner_text() == "Curation: dedup-exact"
    rows = f"{summary['rows_in']} / {summary['rows_out']}"
    assert page.locator("#curation-rows").inner_text() == rows
    assert page.locator("section#funnel").count() == 0  # not a run output
    assert all(url.startswith("file:") for url in asked), asked


def test_a_sampled_report_says_so_and_a_bad_file_is_one_line(run_output, tmp_path):
    out, _ = run_output
    target = tmp_path / "r.html"
    assert (
        run_cli("report", str(out), "-o", str(target), "--sample", "2", cwd=tmp_path).returncode
        == 0
    )
    assert "distributions from a sample of 2 rows" in target.read_text()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{not json\n')
    failed = run_cli("report", str(bad), "-o", str(tmp_path / "bad.html"), cwd=tmp_path)
    assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1
    assert "bad.jsonl" in failed.stderr and not (tmp_path / "bad.html").exists()


@pytest.fixture(scope="module")
def preference_files(tmp_path_factory):
    """The pair records of a small real Self-Rewarding run, and their DPO (plain) and
    reward-model (conversational) exports."""
    workdir = tmp_path_factory.mktemp("preference")
    out = workdir / "pairs.jsonl"
    env = {"SYNTHAUG_CACHE": str(workdir / "cache.sqlite3")}
    done = run_cli(
        "run",
        "self_rewarding",
        *SMALL_SELF_REWARDING,
        "--out",
        str(out),
        "--quiet",
        cwd=workdir,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    exports = []
    for name, options in (("dpo", []), ("rm", ["--conversational"])):
        target = workdir / f"{name}.jsonl"
        made = run_cli(
            "export", str(out), "--format", name, *options, "-o", str(target), cwd=workdir
        )
        assert made.returncode == 0, made.stderr
        exports.append(target)
    return [out, *exports]


def response(side) -> str:
    return side if isinstance(side, str) else side[-1]["content"]


def test_report_of_preference_pairs_matches_the_pairs(preference_files, browser, tmp_path):
    pairs_file = preference_files[0]
    tied = sum(s["errors"].get("tied", 0) for s in summary_of(pairs_file)["steps"])
    for path in preference_files:
        target = tmp_path / f"{path.stem}.html"
        made = run_cli("report", str(path), "-o", str(target), "--quiet", cwd=tmp_path)
        assert made.returncode == 0 and not made.stderr, made.stderr
        rows = [r for r in read_jsonl(path) if r.get("chosen") is not None]
        assert rows, f"{path.name}: the run gave no pair"
        chosen = [response(r["chosen"]) for r in rows]
        rejected = [response(r["rejected"]) for r in rows]
        margins = [r["chosen_score"] - r["rejected_score"] for r in rows]
        longer = sum(len(c) > len(r) for c, r in zip(chosen, rejected, strict=True))
        page, asked = open_offline(browser, target)
        figures = {
            "pairs": str(len(rows)),
            "scored": str(len(margins)),
            "ties": str(margins.count(0)),
            "tie-errors": str(tied if path == pairs_file else 0),
            "identical": str(sum(c == r for c, r in zip(chosen, rejected, strict=True))),
            "longer": f"{100 * longer / len(rows):.1f} %",
            "mean-chars": f"{round(sum(map(len, chosen)) / len(rows))} / "
            f"{round(sum(map(len, rejected)) / len(rows))} chars",
            "margin": str(round(sum(margins) / len(margins), 3)),
        }
        for name, value in figures.items():
            assert page.locator(f"#pref-{name}").inner_text() == value, (path.name, name)
        for chart in ("pref-lengths", "pref-scores", "pref-margins"):
            plot = page.locator(f'figure[data-chart="{chart}"] svg')
            assert drawn_pixels(plot.screenshot()) > 300, (path.name, chart)
        shown = page.locator("#preference .pair")
        assert shown.count() == min(3, len(rows))
        first = shown.first.locator(".chosen pre").inner_text()
        assert first.strip() in {c.strip() for c in chosen}
        assert all(url.startswith("file:") for url in asked), asked
    # every row is counted, whatever the sample
    small = tmp_path / "sampled.html"
    dpo = preference_files[1]
    assert (
        run_cli("report", str(dpo), "-o", str(small), "--sample", "1", cwd=tmp_path).returncode == 0
    )
    assert f'id="pref-pairs">{len(read_jsonl(dpo))}<' in small.read_text()


def test_pairs_are_read_back_from_every_export_shape():
    record = {
        "instruction": "Name a colour.\n\nOne word.",
        "chosen": "Blue.\n\nLike the sky.",
        "rejected": "Blue is a\n\nfruit.",
        "chosen_score": 4.5,
        "rejected_score": 2,
        "_meta": {"id": "r1"},
    }
    want = Pair("Name a colour.\n\nOne word.", record["chosen"], record["rejected"], 4.5, 2.0)
    assert pair_of(record) == want
    for fmt in ("dpo", "orpo", "rm"):
        for conversational in (False, True):
            (row,) = convert(record, ExportOptions(fmt, conversational=conversational))
            assert pair_of(row) == want, (fmt, conversational)
    counts = PairCounts()
    for row in (record, {**record, "rejected_score": 4.5}, {"chosen": None, "rejected": None}):
        counts.add(row)
    assert (counts.pairs, counts.unpaired, counts.scored, counts.ties) == (2, 1, 2, 1)
    assert pair_of({"prompt": "p", "completion": "c", "label": True}) is None  # kto: no pair
