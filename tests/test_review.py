"""The review app with real parts: a real server on 127.0.0.1, real HTTP, headless Chromium."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import read_jsonl, run_cli, write_jsonl

from synthaug.errors import SynthaugError
from synthaug.review.dataset import load_data
from synthaug.review.export import export_review, merged_rows
from synthaug.review.server import ReviewApp, ReviewServer
from synthaug.review.store import Conflict, ReviewStore

LABELS = ["sarcastic", "not_sarcastic"]


def labelled(n: int, human_every: int = 1) -> list[dict]:
    """Rows as the labelling step writes them (the column contract)."""
    return [
        {
            "text": f"headline number {i}",
            "label": LABELS[i % 2],
            "label_confidence": 0.5 + (i % 5) / 10,
            "label_entropy": 0.9,
            "label_explanation": f"because of word {i}",
            "label_votes": {LABELS[i % 2]: 3, LABELS[1 - i % 2]: 2},
            "allocated_to": "human" if i % human_every == 0 else "llm",
            "_meta": {"id": f"row{i}", "method": "label.llm"},
        }
        for i in range(n)
    ]


def make_store(
    tmp_path: Path, rows: list[dict], lease: float = 600, dialogue: bool = False
) -> ReviewStore:
    data = load_data(write_jsonl(tmp_path / "data.jsonl", rows), "text", None, dialogue)
    store = ReviewStore(tmp_path / "queue.sqlite", lease_seconds=lease)
    store.import_rows(data.rows, data.queued, "data.jsonl")
    return store


class Served:
    """A ReviewServer on a free port in a thread; ``http`` is a client with the Bearer token."""

    def __init__(self, app: ReviewApp, request_timeout: float | None = None):
        self.app = app
        timeout = {} if request_timeout is None else {"request_timeout": request_timeout}
        self.server = ReviewServer(app, "127.0.0.1", 0, **timeout)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = self.server.origin
        self.auth = {"Authorization": f"Bearer {app.token}"}

    def post(self, path: str, body: dict, **headers: str) -> httpx.Response:
        return httpx.post(self.base + path, json=body, headers={**self.auth, **headers})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(tmp_path):
    started: list[Served] = []

    def start(rows: list[dict], lease: float = 600, writer=None, request_timeout=None) -> Served:
        store = make_store(tmp_path, rows, lease, dialogue=writer is not None)
        started.append(Served(ReviewApp(store, LABELS, "text", writer), request_timeout))
        return started[-1]

    yield start
    for one in started:
        one.close()


# queue and export -----------------------------------------------------------------------


def test_import_is_idempotent_and_refuses_other_data(tmp_path):
    store = make_store(tmp_path, labelled(4))
    again = ReviewStore(tmp_path / "queue.sqlite")
    data = load_data(tmp_path / "data.jsonl", "text", None, False)
    assert again.import_rows(data.rows, data.queued, "data.jsonl") is False
    assert store.progress() == {"done": 0, "total": 4}
    with pytest.raises(SynthaugError, match="other data"):
        again.import_rows(labelled(5), [True] * 5, "other.jsonl")


def test_queue_holds_only_human_rows_and_labels_come_from_the_data(tmp_path):
    rows = labelled(6, human_every=3)
    data = load_data(write_jsonl(tmp_path / "d.jsonl", rows), "text", None, False)
    assert data.queued == [True, False, False, True, False, False]
    assert data.labels == sorted(LABELS)
    votes_only = [{"text": "x", "label_votes": {"b": 1, "a": 2}}]
    assert load_data(write_jsonl(tmp_path / "v.jsonl", votes_only), "text", None, False).labels == [
        "a",
        "b",
    ]


def test_lease_expiry_returns_an_item_and_stale_or_double_submits_conflict(tmp_path):
    store = make_store(tmp_path, labelled(1), lease=0.2)
    first = store.claim("ann")
    assert store.claim("ann")["lease"] == first["lease"]  # a reload gets the same item
    assert store.claim("bob") is None
    time.sleep(0.3)
    second = store.claim("bob")
    assert second["id"] == first["id"] and second["lease"] != first["lease"]
    with pytest.raises(Conflict):
        store.submit(first["id"], first["lease"], "ann", "accept", "sarcastic")
    store.submit(second["id"], second["lease"], "bob", "accept", "sarcastic")
    with pytest.raises(Conflict):
        store.submit(second["id"], second["lease"], "bob", "accept", "sarcastic")
    assert store.progress() == {"done": 1, "total": 1}


def test_export_merges_human_decisions_and_keeps_the_llm_label(tmp_path):
    store = make_store(tmp_path, labelled(6, human_every=2))  # rows 0, 2, 4 are queued
    actions = [
        ("accept", "sarcastic", None),
        ("relabel", "not_sarcastic", None),
        ("reject", None, None),
    ]
    for action, label, text in actions:
        item = store.claim("ann")
        store.submit(item["id"], item["lease"], "ann", action, label, text)
    rows = list(merged_rows(store, "text"))
    assert [r["_meta"]["id"] for r in rows] == ["row0", "row1", "row2", "row3", "row5"]
    assert rows[0]["label_source"] == "human" and rows[0]["review_action"] == "accept"
    assert rows[1]["label_source"] == "llm" and rows[1]["annotator"] is None
    assert rows[2]["label"] == "not_sarcastic" and rows[2]["llm_label"] == "sarcastic"
    assert rows[2]["review_action"] == "relabel" and rows[2]["label_confidence"] == 0.7
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[2]["annotated_at"])
    kept = list(merged_rows(store, "text", keep_rejected=True))
    assert len(kept) == 6 and kept[4]["review_action"] == "reject" and kept[4]["label"] is None
    counts = export_review(store, tmp_path / "out.parquet", "text")
    assert counts["written"] == 5
    from synthaug.io import read_records

    assert [r["label_source"] for r in read_records(tmp_path / "out.parquet")] == [
        "human",
        "llm",
        "human",
        "llm",
        "llm",
    ]


# security -------------------------------------------------------------------------------


def test_missing_or_wrong_token_gets_no_data(served):
    s = served(labelled(2))
    for response in (
        httpx.get(s.base + "/"),
        httpx.get(s.base + "/api/state"),
        httpx.post(s.base + "/api/claim", json={"annotator": "x"}),
    ):
        assert response.status_code == 401 and "headline" not in response.text
    wrong = {"Authorization": "Bearer nope"}
    for response in (
        httpx.get(s.base + "/", params={"token": "nope"}),
        httpx.get(s.base + "/api/state", headers=wrong),
        httpx.post(s.base + "/api/claim", json={"annotator": "x"}, headers=wrong),
        httpx.get(s.base + "/", headers={"Cookie": "synthaug_review=forged"}),
    ):
        assert response.status_code == 403 and "headline" not in response.text
    assert s.app.store.claim("x")["id"] == 0  # nothing was claimed by the refused requests


def test_token_login_sets_a_strict_cookie_and_posts_need_csrf_and_own_origin(served):
    s = served(labelled(2))
    login = httpx.get(s.base + "/", params={"token": s.app.token})
    assert login.status_code == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and s.app.token not in cookie
    with httpx.Client(base_url=s.base, cookies=login.cookies) as browser_like:
        page = browser_like.get("/")
        assert (
            page.status_code == 200
            and "default-src 'none'" in page.headers["content-security-policy"]
        )
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        claim = {"annotator": "ann"}
        assert browser_like.post("/api/claim", json=claim).status_code == 403  # no CSRF token
        bad = {"X-CSRF-Token": "x" + csrf}
        assert browser_like.post("/api/claim", json=claim, headers=bad).status_code == 403
        evil = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        assert browser_like.post("/api/claim", json=claim, headers=evil).status_code == 403
        referer = {"X-CSRF-Token": csrf, "Referer": "http://evil.example/page"}
        assert browser_like.post("/api/claim", json=claim, headers=referer).status_code == 403
        form = browser_like.post(
            "/api/submit",
            data={"annotator": "ann", "item": "0", "action": "reject"},
            headers={"Origin": "http://evil.example"},
        )
        assert form.status_code == 403
        own = {"X-CSRF-Token": csrf, "Origin": s.base}
        assert browser_like.post("/api/claim", json=claim, headers=own).json()["item"]["id"] == 0
    assert s.post("/api/claim", {"annotator": "b"}, Origin="http://evil.example").status_code == 403
    assert (
        httpx.get(s.base + "/api/state", headers={**s.auth, "Host": "evil.example"}).status_code
        == 403
    )
    assert s.app.store.progress()["done"] == 0


# many annotators --------------------------------------------------------------------------


def test_concurrent_annotators_annotate_every_item_exactly_once(served):
    s = served(labelled(40))
    done: Counter[int] = Counter()
    errors: list[str] = []

    def annotate(who: str) -> None:
        with httpx.Client(base_url=s.base, headers=s.auth, timeout=30) as http:
            while True:
                item = http.post("/api/claim", json={"annotator": who}).json()["item"]
                if item is None:
                    return
                body = {"annotator": who, "item": item["id"], "lease": item["lease"]}
                answer = http.post("/api/submit", json={**body, "action": "accept"})
                if answer.status_code != 200:
                    errors.append(answer.text)
                done[item["id"]] += 1
                again = http.post("/api/submit", json={**body, "action": "reject"})
                if again.status_code != 409:
                    errors.append(f"second submit: {again.status_code}")

    threads = [threading.Thread(target=annotate, args=(f"a{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert done == Counter(range(40))
    rows = list(merged_rows(s.app.store, "text"))
    assert all(r["label_source"] == "human" and r["review_action"] == "accept" for r in rows)
    assert len({r["annotator"] for r in rows}) > 1


def test_submitting_an_item_leased_to_someone_else_conflicts(served):
    s = served(labelled(2))
    item = s.post("/api/claim", {"annotator": "ann"}).json()["item"]
    body = {"item": item["id"], "lease": item["lease"], "action": "accept"}
    assert s.post("/api/submit", {**body, "annotator": "bob"}).status_code == 409
    assert s.post("/api/submit", {**body, "lease": "guess", "annotator": "ann"}).status_code == 409
    bad_label = {**body, "annotator": "ann", "action": "relabel", "label": "nope"}
    assert s.post("/api/submit", bad_label).status_code == 400
    assert s.post("/api/submit", {**body, "annotator": "ann"}).status_code == 200


# the page in a real browser --------------------------------------------------------------


def test_browser_keyboard_review_then_export(served, browser, tmp_path):
    s = served(labelled(5))
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(s.server.url)
    assert "token" not in page.url  # the redirect drops the token from the address bar
    page.fill("#annotator", "ann")
    page.press("#annotator", "Enter")

    def at(done: int, text: str) -> None:
        page.wait_for_function(
            "([d, t]) => document.getElementById('count').textContent.startsWith(d + ' /')"
            " && document.getElementById('text').textContent === t",
            arg=[done, text],
        )

    at(0, "headline number 0")
    assert page.text_content("#llm-label") == "sarcastic"
    assert page.text_content("#explanation") == "because of word 0"
    page.keyboard.press("2")  # relabel to labels[1] = not_sarcastic... sorted: sarcastic is 2nd
    at(1, "headline number 1")
    page.keyboard.press("Enter")  # accept the LLM's not_sarcastic
    at(2, "headline number 2")
    page.keyboard.press("e")
    page.fill("#edit-text", "an edited headline")
    page.press("#edit-text", "Control+Enter")
    at(3, "headline number 3")
    page.keyboard.press("s")  # skip: row 3 goes to the end
    at(3, "headline number 4")
    page.keyboard.press("r")
    at(4, "headline number 3")
    page.keyboard.press("1")  # labels are sorted: 1 = not_sarcastic
    page.wait_for_selector("#empty:not([hidden])")
    assert page.text_content("#count") == "5 / 5" and not errors
    page.close()
    assert s.app.labels == LABELS
    export_review(s.app.store, tmp_path / "out.jsonl", "text")
    rows = {r["_meta"]["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    assert set(rows) == {"row0", "row1", "row2", "row3"}  # row4 was rejected
    assert rows["row0"]["label"] == "not_sarcastic" and rows["row0"]["review_action"] == "relabel"
    assert rows["row1"]["review_action"] == "accept" and rows["row1"]["annotator"] == "ann"
    assert rows["row2"]["text"] == "an edited headline" and rows["row2"]["review_action"] == "edit"
    assert rows["row3"]["label"] == "sarcastic" and rows["row3"]["llm_label"] == "not_sarcastic"


# the command -------------------------------------------------------------------------------


def start_cli(*args: str, cwd: Path, ignore_sigint: bool = False) -> tuple[subprocess.Popen, str]:
    """``synthaug review ARGS`` as a subprocess; returns it and the URL line's token.

    ``ignore_sigint`` starts it the way a shell starts a background job: SIGINT ignored.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "synthaug.cli", "review", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if ignore_sigint
        else None,
    )
    lines = [process.stdout.readline(), process.stdout.readline()]
    match = re.search(r"open (http://127\.0\.0\.1:\d+)/\?token=(\S+)", lines[1])
    assert match, [*lines, process.stderr.read() if process.poll() is not None else ""]
    return process, match.group(1), match.group(2), lines


def stop(process: subprocess.Popen, how: int = signal.SIGINT) -> str:
    process.send_signal(how)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "run the same command again" in err
    return out + err


def test_cli_serves_resumes_after_restart_and_exports(tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", labelled(4, human_every=2))
    process, base, token, lines = start_cli(str(data), cwd=tmp_path)
    assert "imported" in lines[0] and "0 of 2" in lines[0]
    auth = {"Authorization": f"Bearer {token}"}
    item = httpx.post(base + "/api/claim", json={"annotator": "ann"}, headers=auth).json()["item"]
    body = {"annotator": "ann", "item": item["id"], "lease": item["lease"], "action": "accept"}
    assert httpx.post(base + "/api/submit", json=body, headers=auth).status_code == 200
    rest = stop(process)
    assert token not in rest  # the token is printed on the URL line only
    process, base, token2, lines = start_cli(str(data), cwd=tmp_path)
    assert token2 != token and "resumed" in lines[0] and "1 of 2" in lines[0]
    assert httpx.get(base + "/api/state", headers=auth).status_code == 403  # old token
    state = httpx.get(base + "/api/state", headers={"Authorization": f"Bearer {token2}"}).json()
    assert state["progress"] == {"done": 1, "total": 2}
    assert token2 not in stop(process, signal.SIGTERM)
    done = run_cli("review", str(data), "--export", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [r["label_source"] for r in rows] == ["human", "llm", "llm", "llm"]
    assert rows[0]["_meta"] == {"id": "row0", "method": "label.llm"}
    assert not list(tmp_path.glob(".out.jsonl.tmp-*"))


def test_cli_bad_data_is_one_line_exit_2(tmp_path):
    write_jsonl(tmp_path / "notext.jsonl", [{"text": "ok", "label": "a"}, {"label": "b"}])
    write_jsonl(tmp_path / "nolabels.jsonl", [{"text": "ok"}])
    (tmp_path / "broken.jsonl").write_text('{"text": \n')
    cases = {
        "missing.jsonl": "no such file",
        "notext.jsonl": "notext.jsonl:2: field 'text'",
        "nolabels.jsonl": "pass --labels",
        "broken.jsonl": "broken.jsonl:1",
    }
    for name, expected in cases.items():
        result = run_cli("review", name, cwd=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.review.sqlite"))  # nothing is imported from bad data


# dialogue mode with the embedded model --------------------------------------------------------


def test_dialogue_mode_cowrites_with_the_embedded_model(served, browser, tmp_path):
    from synthaug.llm.cache import RequestCache
    from synthaug.llm.client import LLMClient
    from synthaug.llm.local import LocalBackend
    from synthaug.review.dialogue import DialogueWriter

    # its own engine, started on the writer's loop: Playwright's loop runs in this thread
    backend = LocalBackend(parallel=1, ctx_per_slot=1024)
    client = LLMClient(backend, RequestCache(tmp_path / "cache.sqlite3"))
    writer = DialogueWriter(client, turns=2, max_tokens=24)
    rows = [
        {
            "scenario": "A customer books a table for two at an Italian restaurant.",
            "_meta": {"id": "d0"},
        }
    ]
    s = served(rows, writer=writer)
    try:
        page = browser.new_page()
        page.goto(s.server.url)
        page.fill("#annotator", "ann")
        page.press("#annotator", "Enter")
        rounds = "(n) => document.getElementById('proposal').dataset.round === String(n)"
        page.wait_for_function(rounds, arg=1)
        assert page.text_content("#scenario").startswith("A customer books")
        first = page.input_value("#proposal")
        page.fill(
            "#proposal", "User: A table for two tonight, please.\nAssistant: Sure, at what time?"
        )
        page.press("#proposal", "Control+Enter")
        page.wait_for_function(rounds, arg=2)
        assert page.locator("#history .turn").count() == 2
        page.press("#proposal", "Escape")
        page.keyboard.press("f")
        page.wait_for_selector("#empty:not([hidden])")
        page.close()
    finally:
        writer.close()
    assert client.stats.model_calls + client.stats.cache_hits == 2
    assert first.strip(), "the model proposed nothing"
    export_review(s.app.store, tmp_path / "dialogues.jsonl", "text", dialogue=True)
    (row,) = read_jsonl(tmp_path / "dialogues.jsonl")
    assert row["review_action"] == "edit" and row["label_source"] == "human"
    assert "label" not in row and "llm_label" not in row
    assert row["messages"][:2] == [
        {"role": "user", "content": "A table for two tonight, please."},
        {"role": "assistant", "content": "Sure, at what time?"},
    ]
    assert all(m["role"] in ("user", "assistant") and m["content"] for m in row["messages"])
    assert json.dumps(row["_meta"]) == '{"id": "d0"}'


# hostile clients -----------------------------------------------------------------------------


def raw_request(base: str, head: str, body: bytes = b"", half_close: bool = False) -> bytes:
    """Send ``head`` (request line and headers) and ``body`` on a raw socket; the reply."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        return reply


def leased_to(store: ReviewStore, who: str) -> int:
    with sqlite3.connect(store.path) as db:
        return db.execute("SELECT COUNT(*) FROM items WHERE leased_to=?", (who,)).fetchone()[0]


def test_bad_content_length_is_refused_at_once_and_never_acted_on(served):
    """A negative, non-numeric or doubled Content-Length, or a body shorter than it says, is
    a 400 straight away (it used to hold a thread until the client hung up, then act)."""
    s = served(labelled(4))
    port = s.base.rsplit(":", 1)[1]
    body = b'{"annotator": "phantom"}'

    def head(length: str) -> str:
        return (
            f"POST /api/claim HTTP/1.1\nHost: 127.0.0.1:{port}\n"
            f"Authorization: Bearer {s.app.token}\nContent-Type: application/json\n"
            f"{length}\n"
        )

    for length in ("Content-Length: -1\n", "Content-Length: 1e3\n", "Content-Length: +24\n"):
        started = time.monotonic()
        reply = raw_request(s.base, head(length), body)
        assert reply.startswith(b"HTTP/1.0 400") and b"invalid Content-Length" in reply, reply
        assert time.monotonic() - started < 3
    doubled = "Content-Length: 24\nContent-Length: 24\n"
    assert raw_request(s.base, head(doubled), body).startswith(b"HTTP/1.0 400")
    cut = raw_request(s.base, head("Content-Length: 200\n"), body, half_close=True)
    assert cut.startswith(b"HTTP/1.0 400") and b"shorter than its Content-Length" in cut, cut
    time.sleep(0.3)
    assert leased_to(s.app.store, "phantom") == 0  # nothing was acted on, then or later
    assert s.post("/api/claim", {"annotator": "ann"}).json()["item"] is not None


def test_a_silent_client_is_disconnected_after_the_request_timeout(served):
    s = served(labelled(2), request_timeout=0.5)
    port = s.base.rsplit(":", 1)[1]
    host = "127.0.0.1"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /api/claim HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
        started = time.monotonic()
        assert sock.recv(1024) == b""  # the server closed the half-sent request
        assert time.monotonic() - started < 5
    assert s.post("/api/claim", {"annotator": "ann"}).status_code == 200


def test_clients_that_hang_up_are_one_line_not_a_traceback(tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", labelled(4))
    process, base, token, _ = start_cli(str(data), cwd=tmp_path)
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    for _ in range(30):  # send, then reset the connection before the answer is read
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(request)
        sock.close()
    assert httpx.get(base + "/api/state", headers={"Authorization": f"Bearer {token}"}).is_success
    output = stop(process)
    assert "Traceback" not in output and "BrokenPipeError" not in output.replace(
        "(BrokenPipeError)", ""
    ), output
    noise = [line for line in output.splitlines() if "went away" in line]
    assert noise and all(line.startswith("review: a client went away") for line in noise)


def test_per_annotator_tokens_decide_who_is_recorded(tmp_path):
    """--annotators alice,bob prints one URL each; the token, not the body, names who acts."""
    data = write_jsonl(tmp_path / "data.jsonl", labelled(2))
    process, base, alice, lines = start_cli(str(data), "--annotators", "alice,bob", cwd=tmp_path)
    third = process.stdout.readline()
    assert lines[1].rstrip().endswith("as alice  (Ctrl+C stops; run again to resume)")
    bob = re.search(r"token=(\S+) as bob", third).group(1)
    as_alice, as_bob = (
        {"Authorization": f"Bearer {alice}"},
        {"Authorization": f"Bearer {bob}"},
    )
    claim = httpx.post(base + "/api/claim", json={"annotator": "bob"}, headers=as_alice)
    item = claim.json()["item"]
    body = {"annotator": "bob", "item": item["id"], "lease": item["lease"], "action": "accept"}
    assert httpx.post(base + "/api/submit", json=body, headers=as_bob).status_code == 409
    assert httpx.post(base + "/api/submit", json=body, headers=as_alice).status_code == 200
    other = httpx.post(base + "/api/claim", json={}, headers=as_bob).json()["item"]
    assert other is not None and other["id"] != item["id"]
    login = httpx.get(base + f"/?token={bob}", follow_redirects=False)
    page = httpx.get(base + "/", cookies=login.cookies)
    assert '<meta name="annotator" content="bob">' in page.text
    output = stop(process)
    assert alice not in output and bob not in output
    done = run_cli("review", str(data), "--export", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [r["annotator"] for r in rows if r["label_source"] == "human"] == ["alice"]


def test_bad_annotator_names_are_one_line_exit_2(tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", labelled(2))
    for value in ("alice,alice", ",", "al/ice"):
        result = run_cli("review", str(data), "--annotators", value, cwd=tmp_path)
        assert result.returncode == 2 and "--annotators" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1


def test_ctrl_c_stops_a_server_started_with_sigint_ignored(tmp_path):
    """A background job (``cmd &`` in a script, some nohup setups) starts with SIGINT ignored."""
    data = write_jsonl(tmp_path / "data.jsonl", labelled(2))
    process, _, token, _ = start_cli(str(data), cwd=tmp_path, ignore_sigint=True)
    try:
        output = stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert token not in output
