"""The review app shows the pictures of multimodal rows: a real server on 127.0.0.1, real HTTP,
headless Chromium; only files of the image store beside DATA are served, to a token holder."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import read_jsonl, run_cli, write_jsonl
from PIL import Image

from synthaug.io.images import ImageStore
from synthaug.media.render import render
from synthaug.review.dataset import load_data
from synthaug.review.server import ReviewApp, ReviewServer
from synthaug.review.store import ReviewStore

TABLE = {
    "title": "Rainfall by month",
    "x_label": "Month",
    "y_label": "Rainfall (mm)",
    "categories": ["Jan", "Feb", "Mar"],
    "series": [{"name": "Harbour", "values": [81.2, 60.0, 45.5]}],
}
SPEC = {"type": "bar", "palette": "tab10", "grid": True, "legend": "best", "value_labels": True}
SCENES = """\
name: scenes
seed: 0
output: data.jsonl
steps:
  - {name: scenes, method: scenes.generate, params: {count: 2}}
"""


@pytest.fixture
def served(tmp_path):
    """A chart_qa-shaped row (its chart drawn by the real renderer) and two scene rows made by
    ``synthaug run`` (scenes.generate), all in one DATA whose image store is beside it."""
    (tmp_path / "scenes.yaml").write_text(SCENES)
    done = run_cli("run", "scenes.yaml", "--quiet", "--no-cache", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    scenes = read_jsonl(tmp_path / "data.jsonl")
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        drawn = pool.submit(asyncio.run, render("chart", table=TABLE, spec=SPEC)).result()
    chart = ImageStore(tmp_path).put(drawn)
    rows = [
        {"question": "What is the rainfall in Feb?", "answer": "60", "image": chart,
         "label": "correct", "_meta": {"id": "chart0"}},
        *({"question": r["caption"], "image": r["image"], "label": "correct",
           "_meta": r["_meta"]} for r in scenes),
    ]  # fmt: skip
    data = load_data(write_jsonl(tmp_path / "review.jsonl", rows), "question", None, False)
    store = ReviewStore(tmp_path / "queue.sqlite")
    store.import_rows(data.rows, data.queued, "review.jsonl")
    app = ReviewApp(store, ["correct", "wrong"], "question", None, tmp_path)
    server = ReviewServer(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server, rows
    server.shutdown()
    server.server_close()


def test_only_store_images_are_served_and_only_with_the_token(served, tmp_path):
    server, rows = served
    auth = {"Authorization": f"Bearer {server.app.token}"}
    base = server.origin + "/api/image"
    good = httpx.get(base, params={"path": rows[0]["image"]}, headers=auth)
    assert good.status_code == 200 and good.headers["content-type"] == "image/png"
    assert good.content == (tmp_path / rows[0]["image"]).read_bytes()
    assert Image.open(io.BytesIO(good.content)).size[0] > 100
    assert "img-src 'self'" in good.headers["content-security-policy"]
    assert httpx.get(base, params={"path": rows[0]["image"]}).status_code in (401, 403)
    wrong_token = {"Authorization": "Bearer not-the-token"}
    assert httpx.get(base, params={"path": rows[0]["image"]}, headers=wrong_token).status_code in (
        401,
        403,
    )
    (tmp_path / "secret.png").write_bytes(good.content)
    digest = "0" * 62
    outside = tmp_path / "images" / "00" / f"{digest}.png"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.symlink_to(tmp_path / "secret.png")  # a link out of the store is not followed
    refused = [
        "../secret.png",
        "images/../secret.png",
        "images/00/../../secret.png",
        str(tmp_path / "secret.png"),
        "/etc/passwd",
        f"/{rows[0]['image']}",
        "images/%2e%2e/secret.png",
        f"images/00/{digest}.png",
        "review.jsonl",
        "",
    ]
    for path in refused:
        answer = httpx.get(base, params={"path": path}, headers=auth)
        assert answer.status_code == 404, path
        assert answer.content != good.content and answer.json()["error"]
    raw = httpx.get(server.origin + "/api/image?path=../secret.png", headers=auth)
    assert raw.status_code == 404


def test_the_page_shows_the_rows_pictures(served, browser):
    server, rows = served
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url)
    page.fill("#annotator", "ann")
    page.press("#annotator", "Enter")
    seen = []
    for _ in rows:
        page.wait_for_function(
            "() => { const img = document.querySelector('#images img');"
            " return img && img.complete && img.naturalWidth > 0; }"
        )
        text = page.text_content("#text")
        row = next(r for r in rows if r["question"] == text)
        size = page.evaluate(
            "() => { const img = document.querySelector('#images img');"
            " return [img.naturalWidth, img.naturalHeight, img.getAttribute('src')]; }"
        )
        with Image.open(Path(server.app.image_root) / row["image"]) as picture:
            assert size[:2] == list(picture.size)  # the row's own picture, decoded
        assert row["image"].replace("/", "%2F") in size[2]
        seen.append(row["_meta"]["id"])
        page.keyboard.press("Enter")  # accept; the next row (and picture) comes
        page.wait_for_function(
            "(t) => document.getElementById('text').textContent !== t"
            " || !document.getElementById('empty').hidden",
            arg=text,
        )
    page.wait_for_selector("#empty:not([hidden])")
    assert sorted(seen) == sorted(r["_meta"]["id"] for r in rows) and not errors
    page.close()


def test_the_command_serves_the_store_beside_data(served, tmp_path):
    _, rows = served
    process = subprocess.Popen(
        [sys.executable, "-m", "synthaug.cli", "review", str(tmp_path / "review.jsonl"),
         "--db", str(tmp_path / "cli.sqlite"), "--text-column", "question",
         "--labels", "correct,wrong"],
        cwd=tmp_path.parent,  # the images are found beside DATA, not in the current folder
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        match = re.search(r"open (http://127\.0\.0\.1:\d+)/\?token=(\S+)", lines[1])
        assert match, [*lines, process.stderr.read() if process.poll() is not None else ""]
        base, auth = match.group(1), {"Authorization": f"Bearer {match.group(2)}"}
        claim = httpx.post(base + "/api/claim", json={"annotator": "ann"}, headers=auth).json()
        shown = claim["item"]["images"]
        assert len(shown) == 1 and shown[0] in {r["image"] for r in rows}
        picture = httpx.get(base + "/api/image", params={"path": shown[0]}, headers=auth)
        assert picture.status_code == 200
        assert picture.content == (tmp_path / shown[0]).read_bytes()
        outside = httpx.get(base + "/api/image", params={"path": "../review.jsonl"}, headers=auth)
        assert outside.status_code == 404
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
