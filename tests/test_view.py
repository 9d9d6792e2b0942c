"""``synthaug view`` with real parts: real run outputs of the embedded model, a real server on
127.0.0.1 started by the test, Debian's chromium with every request off the server refused."""

from __future__ import annotations

import base64
import io
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import copy_run, read_jsonl, run_cli, write_jsonl
from PIL import Image

from synthaug.view.data import Query, ViewData
from synthaug.view.server import ViewApp, ViewServer


@pytest.fixture(scope="module")
def self_instruct(self_instruct_run, tmp_path_factory) -> Path:
    """A small real Self-Instruct run: its output, checkpoints and summary."""
    return copy_run(self_instruct_run, tmp_path_factory.mktemp("view-si"))


@pytest.fixture(scope="module")
def preferences(tmp_path_factory) -> Path:
    """A real verified-preferences run on code questions: pairs of a passing (chosen) and a
    failing (rejected) solution, and an errors file (a question whose tests nothing passes)."""
    workdir = tmp_path_factory.mktemp("view-pref")
    questions = write_jsonl(
        workdir / "questions.jsonl",
        [
            {
                "question": "Write a Python function `add(a, b)` that returns the sum of the two "
                "integers a and b. For example, add(2, 3) returns 5.",
                "tests": "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n",
            },
            {
                "question": "Write a Python function `square(n)` that returns n squared.",
                "tests": "assert square(3) == 9\nassert square(-2) == 4\n",
            },
            {
                "question": "Write a Python function `never()` that returns 1.",
                "tests": "assert False, 'no solution passes this test'\n",
            },
        ],
    )
    out = workdir / "data.jsonl"
    args = [
        "verified_preferences",
        "--set", "steps[0].method=load",
        "--set", f"steps[0].params.path={questions}",
        "--set", "steps[1].params.samples=8",
        "--set", "steps[1].params.max_tokens=80",
    ]  # fmt: skip
    env = {"SYNTHAUG_CACHE": str(workdir / "cache.sqlite3")}
    done = run_cli("run", *args, "--out", str(out), "--quiet", cwd=workdir, env=env)
    assert done.returncode == 0, done.stderr
    return out


def all_rows(out: Path) -> list[dict]:
    """The output's rows, then its errors file's: the order the viewer numbers them."""
    errors = out.with_name(out.stem + ".errors.jsonl")
    return read_jsonl(out) + (read_jsonl(errors) if errors.exists() else [])


class Viewing:
    """A viewer of ``path`` served on a free port of 127.0.0.1 in a thread."""

    def __init__(self, path: Path):
        self.data = ViewData(path)
        self.server = ViewServer(ViewApp(data=self.data), "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.data.count_facets()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.data.close()


@pytest.fixture
def viewer():
    started: list[Viewing] = []

    def start(path: Path) -> Viewing:
        started.append(Viewing(path))
        return started[-1]

    yield start
    for viewing in started:
        viewing.close()


def open_page(browser, viewing: Viewing):
    """The viewer in a fresh context where any request off its server is refused and noted;
    returns the page, those requests and the page's script errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith(viewing.server.origin + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(viewing.server.url)
    assert "token" not in page.url  # the redirect drops the token from the address bar
    page.wait_for_selector("tr.row.selected")
    return page, outside, errors


def wait_loaded(page, before: str) -> None:
    # a function, not an expression: the page's CSP forbids eval
    page.wait_for_function("b => document.body.dataset.loaded !== b", arg=before)


def loads(page) -> str:
    return page.evaluate("document.body.dataset.loaded")


def choose(page, select: str, value: str) -> None:
    before = loads(page)
    page.select_option(select, value)
    wait_loaded(page, before)


# the CLI --------------------------------------------------------------------------------


def test_cli_prints_a_token_url_and_refuses_requests_without_it(self_instruct, tmp_path):
    rows = all_rows(self_instruct)
    server = subprocess.Popen(
        [sys.executable, "-m", "synthaug.cli", "view", str(self_instruct), "--no-open"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        indexed = server.stdout.readline()
        assert (
            indexed.startswith("view: indexed ")
            and f"({len(read_jsonl(self_instruct))} rows)" in indexed
        )
        opened = server.stdout.readline()
        assert opened.startswith("view: open http://127.0.0.1:"), opened
        url = opened.split()[2]
        base, token = url.split("/?token=")
        assert httpx.get(base + "/api/rows").status_code == 401
        assert httpx.get(base + "/").status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert httpx.get(base + "/api/rows", headers=wrong).status_code == 403
        assert httpx.get(base + "/", params={"token": "not-the-token"}).status_code == 403
        assert "rows" not in httpx.get(base + "/api/rows").json()  # no data with a refusal
        right = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(base + "/api/rows", headers=right).json()
        assert answer["total"] == len(rows)
        assert [r["id"] for r in answer["rows"]] == [r["_meta"]["id"] for r in rows[:50]]
        evil = {**right, "Host": "evil.example:80"}  # DNS rebinding
        assert httpx.get(base + "/api/rows", headers=evil).status_code == 403
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert "Traceback" not in server.stderr.read()


def test_cli_help_and_bad_input_is_one_line_exit_2(tmp_path):
    helped = run_cli("view", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--no-open" in helped.stdout and "j or Down" in helped.stdout
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    (tmp_path / "list.jsonl").write_text("[1, 2]\n", encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    (tmp_path / "data.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    expected = {
        "missing.jsonl": "missing.jsonl: no such file or directory",
        "bad.jsonl": "bad.jsonl:2: malformed JSON",
        "list.jsonl": "list.jsonl:1: expected a JSON object",
        "empty.jsonl": "empty.jsonl: file is empty",
        "data.csv": "view reads .jsonl or .parquet files",
        "bad.parquet": "bad.parquet: not a valid Parquet file",
    }
    for name, message in expected.items():
        done = run_cli("view", str(tmp_path / name), "--no-open", cwd=tmp_path)
        assert done.returncode == 2, (name, done.stderr)
        assert done.stderr.count("\n") == 1 and message in done.stderr, (name, done.stderr)
        assert done.stdout == ""


# the page in a real browser --------------------------------------------------------------


def test_filters_by_step_and_by_error_kind_count_right(preferences, browser, viewer):
    rows = all_rows(preferences)
    steps = Counter(r["_meta"]["step"] for r in rows)
    kinds = Counter(r["_meta"]["error"]["kind"] for r in rows if r["_meta"].get("error"))
    assert kinds["no_correct_solution"] >= 1 and len(steps) >= 1
    page, outside, errors = open_page(browser, viewer(preferences))
    assert page.text_content("#status") == f"{len(rows)} rows"
    page.wait_for_selector("body[data-facets=done]")
    for step, count in steps.items():
        assert page.text_content(f'#f-step option[value="{step}"]') == f"{step} ({count})"
        choose(page, "#f-step", step)
        assert page.text_content("#status") == f"{count} matching rows"
        shown = page.locator("tr.row")
        assert shown.count() == min(count, 50)
        assert {shown.nth(i).get_attribute("data-step") for i in range(shown.count())} == {step}
    choose(page, "#f-step", "")
    for kind, count in kinds.items():
        choose(page, "#f-error", kind)
        assert page.text_content("#status") == f"{count} matching rows"
        shown = [
            int(i) for i in page.locator("tr.row").evaluate_all("r => r.map(t => t.dataset.index)")
        ]
        assert (
            shown
            == [i for i, r in enumerate(rows) if r["_meta"].get("error", {}).get("kind") == kind][
                :50
            ]
        )
    choose(page, "#f-error", "(none)")
    assert page.text_content("#status") == f"{len(rows) - sum(kinds.values())} matching rows"
    assert not outside and not errors, (outside, errors)


def test_preference_rows_show_chosen_and_rejected_side_by_side(preferences, browser, viewer):
    rows = all_rows(preferences)
    pairs = [i for i, r in enumerate(rows) if "chosen" in r and "rejected" in r]
    assert pairs, "no question gave both a passing and a failing solution"
    page, outside, errors = open_page(browser, viewer(preferences))
    page.locator(f'tr.row[data-index="{pairs[0]}"]').click()
    page.wait_for_selector(f'#detail[data-index="{pairs[0]}"]')
    record = rows[pairs[0]]
    chosen, rejected = page.locator("#d-chosen"), page.locator("#d-rejected")
    assert chosen.locator(".text-block").text_content() == record["chosen"]
    assert rejected.locator(".text-block").text_content() == record["rejected"]
    prompt = next(record[k] for k in ("prompt", "instruction", "question") if record.get(k))
    assert page.text_content("#d-prompt") == prompt
    left, right = chosen.bounding_box(), rejected.bounding_box()
    assert (
        left["x"] + left["width"] <= right["x"] and abs(left["y"] - right["y"]) < 2
    )  # side by side
    assert not outside and not errors, (outside, errors)


def checkpoint_chain(out: Path, record: dict) -> list[str]:
    """The steps of ``record``'s first-parent chain, read straight from the run's checkpoints."""
    by_id = {}
    for shard in out.parent.glob(f".{out.stem}.run/checkpoints/*/chunk-*.jsonl"):
        for line in shard.read_text(encoding="utf-8").splitlines():
            for row in json.loads(line).get("rows", []):
                by_id[row["_meta"]["id"]] = row
    steps = [record["_meta"]["step"]]
    while (parents := record["_meta"].get("parents")) and parents[0] in by_id:
        record = by_id[parents[0]]
        steps.append(record["_meta"]["step"])
    return steps


def test_search_then_keyboard_navigation_and_detail_with_lineage(self_instruct, browser, viewer):
    rows = all_rows(self_instruct)
    assert len(rows) >= 3
    page, outside, errors = open_page(browser, viewer(self_instruct))
    selected = lambda: int(page.get_attribute("tr.row.selected", "data-index"))  # noqa: E731
    assert selected() == 0
    page.keyboard.press("j")
    page.keyboard.press("ArrowDown")
    assert selected() == 2
    page.keyboard.press("k")
    assert selected() == 1
    page.keyboard.press("Enter")
    page.wait_for_selector('#detail[data-index="1"]')
    chain = [
        page.locator("#d-lineage .ancestor").nth(i).get_attribute("data-step")
        for i in range(page.locator("#d-lineage .ancestor").count())
    ]
    assert chain == checkpoint_chain(self_instruct, rows[1]) and len(chain) >= 3, chain
    assert json.loads(page.text_content("#d-record")) == rows[1]
    page.keyboard.press("j")  # moves through the details
    page.wait_for_selector('#detail[data-index="2"]')
    page.keyboard.press("Escape")
    page.wait_for_selector("#detail", state="hidden")
    # search: "/" focuses the box; a known record's words find it, and only rows holding them
    known_at = len(read_jsonl(self_instruct)) - 1
    known = rows[known_at]
    words = " ".join(known["instruction"].split()[:4])
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type(words)
    page.keyboard.press("Enter")
    holding = [
        i for i, r in enumerate(rows) if words.lower() in json.dumps(r, ensure_ascii=False).lower()
    ]
    status = f"{len(holding)} matching rows"
    page.wait_for_function("t => document.querySelector('#status').textContent === t", arg=status)
    shown = page.locator("tr.row").evaluate_all("r => r.map(t => Number(t.dataset.index))")
    assert shown == holding and known_at in shown
    assert not outside and not errors, (outside, errors)


def test_images_of_multimodal_rows_are_shown(browser, viewer, tmp_path):
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture, format="PNG")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "red.png").write_bytes(picture.getvalue())
    uri = "data:image/png;base64," + base64.b64encode(picture.getvalue()).decode()
    rows = [
        {
            "question": "What colour is it?",
            "image": "images/red.png",
            "_meta": {"id": "a", "step": "load"},
        },
        {
            "messages": [{"role": "user", "content": [{"type": "image", "image": uri}]}],
            "_meta": {"id": "b"},
        },
        {
            "text": "no image here; /etc/passwd is not one",
            "path": "/etc/passwd",
            "_meta": {"id": "c"},
        },
    ]
    viewing = viewer(write_jsonl(tmp_path / "mm.jsonl", rows))
    page, outside, errors = open_page(browser, viewing)
    for index, field in ((0, "image"), (1, "messages.0.content.0.image")):
        page.locator(f'tr.row[data-index="{index}"]').click()
        page.wait_for_selector(f'#detail[data-index="{index}"] #d-images img')
        image = page.locator("#d-images img")
        assert image.get_attribute("alt") == field
        page.wait_for_function("() => document.querySelector('#d-images img').naturalWidth === 40")
    page.locator('tr.row[data-index="2"]').click()
    page.wait_for_selector('#detail[data-index="2"]')
    assert page.locator("#d-images").is_hidden()
    # only a field that holds an image is served
    token = {"Authorization": f"Bearer {viewing.server.app.token}"}
    asked = httpx.get(
        viewing.server.origin + "/api/image", params={"index": 2, "field": "path"}, headers=token
    )
    assert asked.status_code == 404 and b"root:" not in asked.content
    assert not outside and not errors, (outside, errors)


def test_pagination_over_200k_rows_stays_responsive(browser, viewer, tmp_path):
    path = tmp_path / "big.jsonl"
    steps = ["generate", "filter", "score"]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(200_000):
            row = {"text": f"synthetic row {i} " + "lorem ipsum " * 8, "score": i % 7,
                   "_meta": {"id": f"id{i:06d}", "step": steps[i % 3], "method": "gen"}}  # fmt: skip
            handle.write(json.dumps(row) + "\n")
    viewing = viewer(path)
    print(
        f"\nindexed 200,000 rows ({path.stat().st_size / 1e6:.0f} MB) in {viewing.data.build_s:.3f} s"
    )
    page, outside, errors = open_page(browser, viewing)
    assert page.text_content("#status") == "200,000 rows"
    assert page.text_content("#page-info") == "page 1 of 4,000"
    first = page.locator("tr.row").evaluate_all("r => r.map(t => Number(t.dataset.index))")
    assert first == list(range(50))
    for target in (3_217, 4_000):
        began = time.perf_counter()
        before = loads(page)
        page.fill("#goto", str(target))
        page.press("#goto", "Enter")
        wait_loaded(page, before)
        print(f"page {target:,} shown in {time.perf_counter() - began:.3f} s")
        assert page.text_content("#page-info") == f"page {target:,} of 4,000"
        shown = page.locator("tr.row td.text").first.text_content()
        assert shown.startswith(f"synthetic row {(target - 1) * 50} ")
    page.locator("#goto").blur()
    before = loads(page)
    page.keyboard.press("p")
    wait_loaded(page, before)
    page.keyboard.press("k")  # up from a page's first row: the previous page's last row
    page.wait_for_function(
        "() => document.querySelector('tr.row.selected').dataset.index === '199899'"
    )
    assert not outside and not errors, (outside, errors)


# files read without a browser -------------------------------------------------------------


def test_parquet_is_read_by_row_groups_like_the_jsonl(self_instruct, tmp_path):
    rows = read_jsonl(self_instruct)
    copy = write_jsonl(tmp_path / "copy.jsonl", rows)  # the rows without the errors file
    path = tmp_path / "data.parquet"
    flat = [
        {k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in r.items()}
        for r in rows
    ]
    table = pa.Table.from_pylist(flat).replace_schema_metadata(
        {
            b"synthaug.json_columns": json.dumps(
                [k for k, v in rows[0].items() if isinstance(v, dict | list)]
            )
        }
    )
    pq.write_table(table, path, row_group_size=2)  # several row groups
    parquet, jsonl = ViewData(path), ViewData(copy)
    assert len(parquet) == len(rows) and pq.ParquetFile(path).num_row_groups > 1
    assert parquet.page(1, 4) == jsonl.page(1, 4) and len(parquet.page(1, 4)) == min(
        4, len(rows) - 1
    )
    assert [parquet.record(i)[1] for i in range(len(rows))] == rows
    query = Query(text=rows[-1]["instruction"][:20])
    assert parquet.find(query, 0, 50)["rows"] == jsonl.find(query, 0, 50)["rows"]


def test_index_and_cursors_see_every_row_once(tmp_path, monkeypatch):
    """Blank lines, CRLF, a BOM and no final newline are indexed as the readers read them; a
    search continued from cursor to cursor, one small block per request, over the data and
    its errors file, returns every match once and in order."""
    import synthaug.view.data as view_data
    import synthaug.view.sources as sources

    rows = [{"text": f"item {i}", "_meta": {"id": str(i), "step": "gen" if i % 3 else "fix"}}
            for i in range(3000)]  # fmt: skip
    errors = [{"text": f"item {i} failed", "_meta": {"id": f"e{i}", "step": "fix",
               "error": {"kind": "parse"}}} for i in range(500)]  # fmt: skip
    lines = [json.dumps(r) for r in rows]
    text = "\ufeff" + "\r\n".join(lines[:10]) + "\r\n\n  \n" + "\n".join(lines[10:])  # no final \n
    (tmp_path / "data.jsonl").write_text(text, encoding="utf-8")
    write_jsonl(tmp_path / "data.errors.jsonl", errors)
    data = ViewData(tmp_path / "data.jsonl")
    everything = rows + errors
    assert len(data) == len(everything) and [p.name for p in data.parts] == ["data", "errors"]
    assert [data.record(i)[1] for i in (0, 9, 10, 2999, 3000, 3499)] == [
        everything[i] for i in (0, 9, 10, 2999, 3000, 3499)
    ]
    monkeypatch.setattr(sources, "BLOCK", 2048)
    monkeypatch.setattr(view_data, "SCAN_BUDGET_S", 0.0)
    for query, wanted in (
        (Query(step="fix"), [i for i, r in enumerate(everything) if r["_meta"]["step"] == "fix"]),
        (Query(text="ITEM 12"), [i for i, r in enumerate(everything) if "item 12" in r["text"]]),
        (Query(error="parse", text="failed"), list(range(3000, 3500))),
    ):
        found, cursor, requests = [], 0, 0
        while cursor is not None:
            answer = data.find(query, cursor, 7)
            found += [row["index"] for row in answer["rows"]]
            cursor, requests = answer["next"], requests + 1
        assert found == wanted and requests > 2, query
    data.close()
