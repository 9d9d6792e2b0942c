"""The ``openai_batch`` backend and ``synthaug batches`` against a Batch API server on 127.0.0.1.

The hosted Batch API cannot run here, so ``BatchService`` below implements the published
spec (https://platform.openai.com/docs/api-reference/batch and /files) on the wire: multipart
file upload with ``purpose=batch``, file content, batch create / retrieve / cancel / list,
input lines validated (unique ``custom_id``, ``POST``, the batch's ``url``, a ``body`` with a
model), statuses validating → in_progress → completed, output and error files whose lines
carry ``response: {status_code, body}`` or ``error``. Answers are deterministic ("ECHO " and
the last user message upper-cased), the same as its live ``/v1/chat/completions``. Scripted
by the prompt's first word: ``fail-once`` (an error line, then fine), ``status-once`` (a 400
response, then fine), ``fail-always`` (a 500 response every time), ``echo-key`` (an error
whose message echoes the request's Authorization header); ``hold`` keeps batches in progress
until released, ``expire`` ends the next batches as expired without the ``late`` prompts,
and a cancelled batch answers nothing. Nothing is mocked in-process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from conftest import read_jsonl, run_cli, summary_of, write_jsonl

from synthaug.cli import main
from synthaug.llm.backend import wire_body
from synthaug.llm.batch_api import CHAT
from synthaug.llm.batch_state import BatchStore
from synthaug.llm.cache import RequestCache
from synthaug.llm.client import LLMClient, LLMError
from synthaug.llm.openai_batch import OpenAIBatchBackend
from synthaug.llm.types import chat

KEY = "sk-batch-0123456789abcdefghijklmnopqrstuvwxyz"
FAST = {"collect_s": 0.3, "poll_initial_s": 0.05, "poll_max_s": 0.2}


class BatchService:
    """The fake provider's state: files, batches, what it was asked, and its scripted faults."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.lines: dict[str, list[dict]] = {}  # batch id -> its input lines
        self.uploads = self.creations = self.live_calls = 0
        self.retrieved: Counter[str] = Counter()
        self.cancels: list[str] = []
        self.processed: Counter[str] = Counter()  # prompt -> times answered in a batch
        self.hold, self.expire, self.unauthorized = False, 0, 0
        self.faults: dict[str, list[int]] = {}  # route -> statuses to answer next (see _route)
        self.url = self.auth_seen = ""

    def upload(self, data: bytes) -> dict:
        file_id = f"file-{next(self.ids)}"
        self.files[file_id] = data
        self.uploads += 1
        return {"id": file_id, "object": "file", "bytes": len(data), "purpose": "batch",
                "created_at": int(time.time()), "filename": "batch.jsonl"}  # fmt: skip

    def create(self, body: dict) -> dict:
        self.creations += 1
        batch_id = f"batch_{next(self.ids)}"
        batch = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
            "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
            "status": "validating", "output_file_id": None, "error_file_id": None,
            "created_at": int(time.time()), "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }  # fmt: skip
        self.batches[batch_id] = batch
        try:
            lines = [json.loads(x) for x in self.files[body["input_file_id"]].splitlines()]
            ids = [line["custom_id"] for line in lines]
            assert len(ids) == len(set(ids)), "duplicate custom_id"
            for line in lines:
                assert line["method"] == "POST" and line["url"] == body["endpoint"], line
                assert line["body"]["model"] and set(line) == {"custom_id", "method", "url", "body"}
        except (KeyError, ValueError, AssertionError) as exc:
            batch["status"] = "failed"
            batch["errors"] = {"object": "list", "data": [{"code": "invalid", "message": str(exc)}]}
            return batch
        self.lines[batch_id] = lines
        batch["request_counts"]["total"] = len(lines)
        return batch

    def retrieve(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        self.retrieved[batch_id] += 1
        if batch["status"] == "validating":
            batch["status"] = "in_progress"
        elif batch["status"] == "in_progress" and not self.hold:
            self._finish(batch)
        elif batch["status"] == "cancelling":
            batch["status"] = "cancelled"
        return batch

    def cancel(self, batch_id: str) -> dict:
        self.cancels.append(batch_id)
        self.batches[batch_id]["status"] = "cancelling"
        return self.batches[batch_id]

    def _finish(self, batch: dict) -> None:
        expired = self.expire > 0
        self.expire -= expired
        outputs, errors = [], []
        for line in self.lines[batch["id"]]:
            prompt = last_prompt(line["body"])
            if expired and prompt.startswith("late"):
                continue
            self.processed[prompt] += 1
            first = self.processed[prompt] == 1
            item = {"id": f"batch_req_{next(self.ids)}", "custom_id": line["custom_id"],
                    "response": None, "error": None}  # fmt: skip
            if prompt.startswith("fail-once") and first:
                errors.append({**item, "error": {"code": "server_error", "message": "try later"}})
            elif prompt.startswith("status-once") and first:
                body = {"error": {"message": "bad"}}
                errors.append({**item, "response": {"status_code": 400, "body": body}})
            elif prompt.startswith("fail-always"):
                body = {"error": {"message": "internal"}}
                errors.append({**item, "response": {"status_code": 500, "body": body}})
            elif prompt.startswith("echo-key"):
                errors.append({**item, "error": {"code": "bad", "message": self.auth_seen}})
            else:
                response = {"status_code": 200, "request_id": "r", "body": answer(line["body"])}
                outputs.append({**item, "response": response})
        batch["status"] = "expired" if expired else "completed"
        batch["request_counts"].update(completed=len(outputs), failed=len(errors))
        for key, found in (("output_file_id", outputs), ("error_file_id", errors)):
            if found:
                file_id = f"file-{next(self.ids)}"
                self.files[file_id] = "".join(json.dumps(x) + "\n" for x in found).encode()
                batch[key] = file_id


def last_prompt(body: dict) -> str:
    return body["messages"][-1]["content"] if "messages" in body else body["prompt"]


def answer(body: dict) -> dict:
    """The deterministic completion for an OpenAI-style request body."""
    prompt = last_prompt(body)
    text = "ECHO " + prompt.upper()
    choice = {"index": 0, "finish_reason": "stop"}
    if "messages" in body:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
    return {"id": "cmpl-1", "object": "chat.completion", "model": body["model"],
            "choices": [choice], "usage": usage}  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    service: BatchService

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def _route(self, method: str) -> None:
        service, url = self.service, urlparse(self.path)
        parts = url.path.removeprefix("/v1/").split("/")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with service.lock:
            service.auth_seen = self.headers.get("Authorization", "")
            if service.auth_seen != f"Bearer {KEY}":
                service.unauthorized += 1
                return self._send(401, {"error": {"message": "invalid api key"}})
            if method == "GET" and parts == ["models"]:
                return self._send(200, {"object": "list", "data": [{"id": "fake"}]})
            if method == "POST" and parts in (["chat", "completions"], ["completions"]):
                service.live_calls += 1
                return self._send(200, answer(json.loads(raw)))
            if method == "POST" and parts == ["files"]:
                if fault := service.faults.get("upload"):
                    return self._send(fault.pop(0), {"error": {"message": "busy"}}, retry_after=0)
                fields = multipart(self.headers["Content-Type"], raw)
                assert fields["purpose"] == b"batch"
                return self._send(200, service.upload(fields["file"]))
            if method == "GET" and parts[0] == "files" and parts[2:] == ["content"]:
                return self._send(200, service.files[parts[1]], raw_body=True)
            if method == "POST" and parts == ["batches"]:
                batch = service.create(json.loads(raw))
                if fault := service.faults.get("create"):  # made, but the answer is an error
                    return self._send(fault.pop(0), {"error": {"message": "oops"}})
                return self._send(200, batch)
            if method == "GET" and parts == ["batches"]:
                return self._send(200, page(service, parse_qs(url.query)))
            if parts[0] == "batches" and parts[1] in service.batches:
                if method == "GET" and len(parts) == 2:
                    if fault := service.faults.get("retrieve"):
                        return self._send(
                            fault.pop(0), {"error": {"message": "busy"}}, retry_after=0
                        )
                    return self._send(200, service.retrieve(parts[1]))
                if method == "POST" and parts[2:] == ["cancel"]:
                    return self._send(200, service.cancel(parts[1]))
            return self._send(404, {"error": {"message": f"no route {method} {url.path}"}})

    def _send(self, status: int, payload, raw_body: bool = False, retry_after=None) -> None:
        data = payload if raw_body else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }


def page(service: BatchService, query: dict[str, list[str]]) -> dict:
    """``GET /batches``: newest first, ``limit`` per page after the id ``after``."""
    newest = list(reversed(service.batches.values()))
    if after := query.get("after", [None])[0]:
        newest = newest[[b["id"] for b in newest].index(after) + 1 :]
    limit = int(query.get("limit", ["20"])[0])
    data = newest[:limit]
    return {"object": "list", "data": data, "has_more": len(newest) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}  # fmt: skip


@pytest.fixture()
def service():
    state = BatchService()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Bound", (Handler,), {"service": state}))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def make_recipe(tmp_path: Path, service: BatchService, instructions: list[str]) -> str:
    """``load`` + ``orca.explain`` on the fake endpoint; the batch options are ignored by
    ``--backend openai``."""
    rows = write_jsonl(tmp_path / "in.jsonl", [{"instruction": text} for text in instructions])
    recipe = {
        "name": "batch",
        "backend": {"type": "openai", "base_url": service.url, "model": "fake",
                    "api_key_env": "FAKE_KEY", "max_retries": 1, **FAST},
        "steps": [
            {"method": "load", "params": {"path": str(rows)}},
            {"method": "orca.explain", "params": {"max_tokens": 32}},
        ],
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return str(path)


def run(tmp_path: Path, recipe: str, out: Path, backend: str, cache: str = "cache.sqlite3"):
    env = {"SYNTHAUG_CACHE": str(tmp_path / cache), "FAKE_KEY": KEY}
    args = ("run", recipe, "--out", str(out), "--backend", backend, "--quiet")
    return run_cli(*args, cwd=tmp_path, env=env, timeout=120)


def start_run(tmp_path: Path, recipe: str, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "synthaug.cli", "run", recipe, "--out", str(out),
               "--backend", "openai_batch", "--quiet"]  # fmt: skip
    env = {**os.environ, "SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"),
           "FAKE_KEY": KEY}  # fmt: skip
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def running_batch(service: BatchService) -> str:
    """The id of the one batch, once the run has polled it in progress (so it is recorded)."""
    wait_for(
        lambda: any(b["status"] == "in_progress" for b in service.batches.values()),
        "a batch in progress",
    )
    [batch_id] = service.batches
    return batch_id


def test_a_run_through_batches_gives_the_records_of_the_live_backend(tmp_path, service):
    recipe = make_recipe(tmp_path, service, [f"task number {i}" for i in range(6)])
    live = run(tmp_path, recipe, tmp_path / "live.jsonl", "openai", cache="live.sqlite3")
    assert live.returncode == 0, live.stderr
    assert service.live_calls == 6 and service.uploads == 0
    batched = run(tmp_path, recipe, tmp_path / "batch.jsonl", "openai_batch")
    assert batched.returncode == 0, batched.stderr
    records = read_jsonl(tmp_path / "batch.jsonl")
    assert records == read_jsonl(tmp_path / "live.jsonl")  # same fields, same _meta
    assert records[0]["output"] == "ECHO TASK NUMBER 0" and len(records) == 6
    assert service.live_calls == 6 and service.uploads == service.creations == 1
    [batch] = service.batches.values()
    assert batch["status"] == "completed" and batch["endpoint"] == "/v1/chat/completions"
    # one batch line per row, its custom_id the record's request key
    custom_ids = [line["custom_id"] for line in service.lines[batch["id"]]]
    assert sorted(custom_ids) == sorted(r["_meta"]["request"][0] for r in records)
    summary = summary_of(tmp_path / "batch.jsonl")
    assert summary["llm"]["model_calls"] == 6 and summary["error_records"] == 0


def test_a_run_killed_while_its_batch_runs_resumes_on_the_same_batch(tmp_path, service):
    recipe = make_recipe(tmp_path, service, [f"row {i}" for i in range(5)])
    out = tmp_path / "data.jsonl"
    service.hold = True
    victim = start_run(tmp_path, recipe, out)
    batch_id = running_batch(service)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not out.exists()
    polled_before = service.retrieved[batch_id]
    service.hold = False
    resumed = run(tmp_path, recipe, out, "openai_batch")
    assert resumed.returncode == 0, resumed.stderr
    assert service.uploads == service.creations == 1  # nothing resubmitted
    assert service.retrieved[batch_id] > polled_before  # the restarted run polled that batch
    records = read_jsonl(out)
    ids = [r["_meta"]["id"] for r in records]
    assert len(records) == 5 and len(set(ids)) == 5
    assert sorted(r["output"] for r in records) == [f"ECHO ROW {i}" for i in range(5)]
    assert not (tmp_path / "data.errors.jsonl").exists()


def batch_client(service: BatchService, tmp_path: Path) -> LLMClient:
    backend = OpenAIBatchBackend(
        service.url, "fake", api_key_env="FAKE_KEY", collect_s=0.1, poll_initial_s=0.02,
        poll_max_s=0.05,
    )  # fmt: skip
    backend.bind_run_dir(tmp_path / ".data.run")
    return LLMClient(backend, RequestCache(tmp_path / "cache.sqlite3"), max_retries=2)


def complete_all(client: LLMClient, prompts: list[str]) -> dict[str, object]:
    async def go():
        replies = await asyncio.gather(
            *(client.complete(chat(("user", p))) for p in prompts), return_exceptions=True
        )
        await client.close()
        return dict(zip(prompts, replies, strict=True))

    return asyncio.run(go())


def test_failed_lines_are_resubmitted_once_alone(tmp_path, service, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", KEY)
    client = batch_client(service, tmp_path)
    prompts = ["fine", "fail-once a", "status-once b", "fail-always c"]
    replies = complete_all(client, prompts)
    assert replies["fine"].text == "ECHO FINE"
    assert replies["fail-once a"].text == "ECHO FAIL-ONCE A"
    assert replies["status-once b"].text == "ECHO STATUS-ONCE B"
    failed = replies["fail-always c"]
    assert isinstance(failed, LLMError) and failed.kind == "batch_failed"
    assert "status 500" in str(failed) and "not resubmitted again" in str(failed)
    first, second = service.lines.values()
    assert len(first) == 4 and service.creations == 2  # one resubmission, no client retries
    resubmitted = {client.key(chat(("user", p))) for p in prompts[1:]}
    assert {line["custom_id"] for line in second} == resubmitted
    assert client.stats.model_calls == 4 and client.stats.failures == {"batch_failed": 1}


def test_requests_an_expired_batch_missed_go_again_alone(tmp_path, service, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", KEY)
    service.expire = 1
    client = batch_client(service, tmp_path)
    replies = complete_all(client, ["early", "late one", "late two"])
    assert [r.text for r in replies.values()] == ["ECHO EARLY", "ECHO LATE ONE", "ECHO LATE TWO"]
    first, second = service.batches.values()
    assert first["status"] == "expired" and second["status"] == "completed"
    assert sorted(last_prompt(x["body"]) for x in service.lines[second["id"]]) == [
        "late one", "late two"
    ]  # fmt: skip


def test_a_batch_id_lost_to_a_kill_is_found_by_its_input_file(tmp_path, service, monkeypatch):
    """Killed after ``POST /batches`` but before its id was recorded: the next run finds the
    batch in ``GET /batches`` by its input file instead of creating another."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    client = batch_client(service, tmp_path)
    request = chat(("user", "orphan"))
    body = wire_body(request, model="fake", schema_style="openai")
    line = {"custom_id": client.key(request), "method": "POST", "url": CHAT, "body": body}
    uploaded = service.upload(json.dumps(line).encode() + b"\n")
    lost = {"input_file_id": uploaded["id"], "endpoint": CHAT, "completion_window": "24h"}
    service.create(lost)
    for _ in range(3):  # newer batches of the account come first in the listing
        service.create({**lost, "input_file_id": service.upload(b"")["id"]})
    store = BatchStore(tmp_path / ".data.run" / "batches.sqlite3")
    store.add(uploaded["id"], custom_ids=[client.key(request)], base_url=service.url,
              model="fake", api_key_env="FAKE_KEY", endpoint=CHAT,
              uploaded_at=uploaded["created_at"])  # fmt: skip
    store.close()
    creations = service.creations
    assert complete_all(client, ["orphan"])["orphan"].text == "ECHO ORPHAN"
    assert service.creations == creations and service.uploads == 4


def test_transient_api_failures_are_retried_and_spend_nothing_twice(tmp_path, service, monkeypatch):
    """A 429 on upload, a create the server made but answered with a 500, and 503s while
    polling: each call is retried with backoff, the batch made is found by its input file."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    service.faults = {"upload": [429], "create": [500], "retrieve": [503, 503]}
    client = batch_client(service, tmp_path)
    replies = complete_all(client, ["a", "b"])
    assert [r.text for r in replies.values()] == ["ECHO A", "ECHO B"]
    assert service.uploads == service.creations == 1
    assert not any(service.faults.values()) and client.stats.model_calls == 2


def test_a_lasting_api_failure_fails_the_requests_once_and_a_rerun_resumes(
    tmp_path, service, monkeypatch
):
    monkeypatch.setenv("FAKE_KEY", KEY)
    service.faults = {"retrieve": [404]}
    client = batch_client(service, tmp_path)
    failed = complete_all(client, ["a", "b"])
    assert {type(e).__name__ + ":" + e.kind for e in failed.values()} == {"LLMError:batch_api"}
    assert "Batch API: bad_request: 404" in str(failed["a"])
    assert client.stats.model_calls == 2 and client.limiter.limit == client.limiter.maximum
    rerun = batch_client(service, tmp_path)
    assert [r.text for r in complete_all(rerun, ["a", "b"]).values()] == ["ECHO A", "ECHO B"]
    assert service.uploads == service.creations == 1


def test_the_progress_line_shows_the_batches_waiting(tmp_path, service, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", KEY)
    service.hold = True
    client = batch_client(service, tmp_path)
    backend = client.backend

    async def go():
        jobs = asyncio.gather(*(client.complete(chat(("user", p))) for p in ("a", "b")))
        while not backend.progress_note():
            await asyncio.sleep(0.02)
        note = backend.progress_note()
        service.hold = False
        replies = await jobs
        await client.close()
        return note, replies

    note, replies = asyncio.run(go())
    assert note == "batches waiting 1 (0/2 requests done)" and len(replies) == 2
    assert backend.progress_note() is None


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``synthaug ARGS`` in this process: exit code, stdout, stderr."""
    try:
        code = main(list(args))
    except SystemExit as exit:  # --help
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def test_batches_list_and_cancel(tmp_path, service, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", KEY)
    recipe = make_recipe(tmp_path, service, ["one", "two", "three"])
    out, run_dir = tmp_path / "data.jsonl", tmp_path / ".data.run"
    for command in (["batches"], ["batches", "list"], ["batches", "cancel"]):
        code, helped, _ = cli(capsys, *command, "--help")
        assert code == 0 and "usage: " in helped and " batches" in helped
    code, _, error = cli(capsys, "batches", "list", str(out))
    assert code == 2 and "no batches recorded" in error and len(error.splitlines()) == 1

    service.hold = True
    running = start_run(tmp_path, recipe, out)
    batch_id = running_batch(service)
    code, listed, _ = cli(capsys, "batches", "list", str(out))
    assert code == 0 and f"{batch_id}  in_progress  completed 0/3  failed 0  created " in listed
    assert cli(capsys, "batches", "cancel", str(out)) == (0, f"{batch_id}: cancelling\n", "")
    assert service.cancels == [batch_id]
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 0, stderr
    errors = read_jsonl(tmp_path / "data.errors.jsonl")
    assert {e["_meta"]["error"]["kind"] for e in errors} == {"batch_cancelled"} and len(errors) == 3
    assert service.creations == 1  # a cancelled batch is not resubmitted by the run waiting on it

    again = cli(capsys, "batches", "cancel", str(run_dir))
    assert again == (0, f"{batch_id}: already cancelled\n", "") and service.cancels == [batch_id]
    assert f"{batch_id}  cancelled" in cli(capsys, "batches", "list", str(run_dir))[1]
    code, _, error = cli(capsys, "batches", "list", str(out), "--api-key-env", "NO_SUCH_KEY")
    assert code == 2 and "401" in error and len(error.splitlines()) == 1


def test_the_api_key_reaches_no_file_and_no_message(tmp_path, service):
    recipe = make_recipe(tmp_path, service, ["fine", "echo-key please", "fail-always x"])
    out = tmp_path / "data.jsonl"
    result = run(tmp_path, recipe, out, "openai_batch")
    assert result.returncode == 0, result.stderr
    errors = {
        e["instruction"]: e["_meta"]["error"] for e in read_jsonl(tmp_path / "data.errors.jsonl")
    }
    assert errors["echo-key please"]["kind"] == "batch_failed"
    assert "Bearer ***" in errors["echo-key please"]["message"]
    listed = run_cli("batches", "list", str(out), cwd=tmp_path, env={"FAKE_KEY": KEY})
    state = tmp_path / ".data.run" / "batches.sqlite3"
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT DISTINCT api_key_env FROM batches").fetchall() == [("FAKE_KEY",)]
    texts = [result.stdout, result.stderr, listed.stdout, listed.stderr]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert state.is_file() and (tmp_path / "cache.sqlite3").is_file()
    assert not any(KEY[:12] in text for text in texts)
    assert service.unauthorized == 0
