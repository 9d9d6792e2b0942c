"""The OpenAI-compatible backend against real HTTP servers on 127.0.0.1.

One is llama.cpp's own server (the bundled model, behind an API key); the
other is a small misbehaving server of ours that follows the OpenAI
chat/completions wire format and answers 429, 500, slowly, with cut or
truncated bodies, non-JSON, empty ``choices``, null content, a 400 that echoes
the request's Authorization header, or a huge ``Retry-After``, following a
per-prompt script. The hosted services that misbehave this way cannot run
here, so this server reproduces their faults on the wire; nothing is mocked
in-process.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import YES_NO_SCHEMA, read_jsonl, run_cli, start_llamacpp_http, summary_of

from synthaug.engine.pipeline import TotalStats
from synthaug.engine.progress import Progress
from synthaug.engine.summary import StepStats
from synthaug.errors import BackendUnavailable
from synthaug.llm.cache import RequestCache
from synthaug.llm.client import LLMClient, LLMError
from synthaug.llm.openai import OpenAIBackend
from synthaug.llm.types import ChatRequest, chat

GOOD = {
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    "model": "flaky",
}


LISTED = "Write a haiku about autumn leaves.\n10. List three uses of a paperclip."


class FlakyHandler(BaseHTTPRequestHandler):
    """Replies by the script for the request's last user message (or raw prompt); then
    with ``fallback`` (``ok`` unless a test sets it)."""

    scripts: dict[str, list[str]] = {}
    hits: dict[str, int] = {}
    fallback = "ok"
    lock = threading.Lock()

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self._send(200, json.dumps({"data": [{"id": "flaky"}]}).encode())

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        chat_request = "messages" in body
        if "input" in body:  # /embeddings: keyed by the first text
            prompt = body["input"][0]
        else:
            prompt = body["messages"][-1]["content"] if chat_request else body["prompt"]
        with self.lock:
            step = self.hits.get(prompt, 0)
            self.hits[prompt] = step + 1
        script = self.scripts.get(prompt, [])
        action = script[step] if step < len(script) else self.fallback
        good = GOOD if chat_request else RAW_GOOD
        if action == "429":
            self._send(429, b'{"error": "slow down"}', {"Retry-After": "0.2"})
        elif action == "500":
            self._send(500, b"internal error")
        elif action == "400":
            self._send(400, b'{"error": "bad request"}')
        elif action == "slow":
            time.sleep(1.5)
            self._send(200, json.dumps(GOOD).encode())
        elif action == "truncated":
            self._send(200, json.dumps(GOOD).encode()[:25])
        elif action == "html":
            self._send(200, b"<html>gateway says hello</html>")
        elif action == "cut":  # promises more than it sends, then hangs up
            payload = json.dumps(good).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[:30])
            self.wfile.flush()
            self.close_connection = True
        elif action == "empty":
            self._send(200, json.dumps({**good, "choices": []}).encode())
        elif action == "null":
            choice = {"index": 0, "message": {"role": "assistant", "content": None}}
            self._send(200, json.dumps({**GOOD, "choices": [choice]}).encode())
        elif action == "echo400":  # a proxy that echoes the request headers it disliked
            header = self.headers.get("Authorization", "")
            key = header.removeprefix("Bearer ")
            detail = {"error": "x" * 150 + f" bad key {key}", "headers": {"authorization": header}}
            self._send(400, json.dumps(detail).encode())
        elif action == "huge_wait":
            self._send(429, b'{"error": "come back tomorrow"}', {"Retry-After": "86400"})
        elif action == "wait1":
            self._send(503, b'{"error": "busy"}', {"Retry-After": "1"})
        else:
            self._send(200, json.dumps(good).encode())

    def _send(self, status, payload, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


RAW_GOOD = {
    "choices": [{"index": 0, "text": LISTED, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 12},
    "model": "flaky",
}


@pytest.fixture()
def flaky_server():
    FlakyHandler.hits, FlakyHandler.fallback = {}, "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def make_client(base_url, tmp_path, timeout=1.0, max_retries=4):
    backend = OpenAIBackend(base_url, "flaky", timeout=timeout, max_concurrency=4)
    return LLMClient(
        backend,
        RequestCache(tmp_path / "cache.sqlite3"),
        max_retries=max_retries,
        backoff_base=0.05,
    )


def test_misbehaving_server_scenarios(flaky_server, tmp_path):
    FlakyHandler.scripts = {
        "rate": ["429", "429"],
        "server": ["500", "500", "500"],
        "timeout": ["slow"],
        "truncated": ["truncated"],
        "html": ["html"],
        "dead": ["500"] * 10,
        "invalid": ["400"],
        "clean": [],
    }
    client = make_client(flaky_server, tmp_path)

    async def go():
        jobs = [client.complete(chat(("user", p), seed=1)) for p in FlakyHandler.scripts]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        await client.close()
        return dict(zip(FlakyHandler.scripts, results, strict=True))

    results = asyncio.run(go())
    for prompt in ("rate", "server", "timeout", "truncated", "html", "clean"):
        assert results[prompt].text == "fine", prompt
    assert isinstance(results["dead"], LLMError) and results["dead"].kind == "server_error"
    assert isinstance(results["invalid"], LLMError) and results["invalid"].kind == "bad_request"
    # retried exactly as scripted: two 429s then success = 3 hits; a 400 is not retried
    assert FlakyHandler.hits["rate"] == 3
    assert FlakyHandler.hits["server"] == 4
    assert FlakyHandler.hits["invalid"] == 1
    assert FlakyHandler.hits["dead"] == 5  # 1 try + 4 retries
    assert client.stats.failures == {"server_error": 1, "bad_request": 1}
    assert client.limiter.limit < client.limiter.maximum  # backed off after 429/500s


def test_retry_after_is_honoured(flaky_server, tmp_path):
    FlakyHandler.scripts = {"wait": ["429"]}
    client = make_client(flaky_server, tmp_path)
    started = time.monotonic()
    result = asyncio.run(client.complete(chat(("user", "wait"))))
    assert result.text == "fine"
    assert time.monotonic() - started >= 0.2  # the server asked for 0.2 s


def test_api_key_never_reaches_cache_or_description(flaky_server, tmp_path, monkeypatch):
    secret = "sk-test-very-secret-value"
    monkeypatch.setenv("FLAKY_KEY", secret)
    backend = OpenAIBackend(flaky_server, "flaky", api_key_env="FLAKY_KEY")
    client = LLMClient(backend, RequestCache(tmp_path / "cache.sqlite3"))
    FlakyHandler.scripts = {}
    asyncio.run(client.complete(chat(("user", "hello"))))
    assert secret not in backend.describe() and secret not in client.identity
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes()


def test_unreachable_endpoint_is_reported_before_any_call(tmp_path):
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "none", timeout=2)
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        asyncio.run(backend.start())


def test_unusable_replies_are_retried_and_never_cached(flaky_server, tmp_path):
    """Empty choices, null content, cut bodies and invalid JSON are retryable bad replies;
    none of them reaches the cache, so a rerun asks again instead of replaying them."""
    faults = ["empty", "null", "cut", "truncated", "html"]
    FlakyHandler.scripts = {f"then-{f}": [f] for f in faults}
    FlakyHandler.scripts.update({f"always-{f}": [f] * 10 for f in faults})
    client = make_client(flaky_server, tmp_path, max_retries=2)

    async def go():
        jobs = [client.complete(chat(("user", p), seed=1)) for p in FlakyHandler.scripts]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        await client.close()
        return dict(zip(FlakyHandler.scripts, results, strict=True))

    results = asyncio.run(go())
    for fault in faults:
        assert results[f"then-{fault}"].text == "fine", fault
        assert FlakyHandler.hits[f"then-{fault}"] == 2, fault
        failed = results[f"always-{fault}"]
        assert isinstance(failed, LLMError), fault
        assert failed.kind in ("bad_response", "connection"), (fault, failed.kind)
        assert FlakyHandler.hits[f"always-{fault}"] == 3, fault  # 1 try + 2 retries
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        stored = [json.loads(v) for (v,) in db.execute("SELECT value FROM completions")]
    assert len(stored) == len(faults)  # only the recovered answers
    assert all(c["choices"] and c["choices"][0]["text"] == "fine" for c in stored)


def test_bad_cached_entries_are_requested_again(flaky_server, tmp_path):
    """A cache written by an older version (an empty-choices reply) or damaged by hand is
    ignored on read and replaced by a fresh answer."""
    FlakyHandler.scripts = {}
    client = make_client(flaky_server, tmp_path)
    requests = {p: chat(("user", p), seed=1) for p in ("empty", "garbage", "no-text")}
    bad = {
        "empty": json.dumps({"choices": [], "usage": {}, "model": "flaky"}),
        "garbage": "{not json",
        "no-text": json.dumps({"choices": [{"finish_reason": "stop"}]}),
    }
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        for prompt, request in requests.items():
            db.execute("INSERT INTO completions VALUES (?, ?)", (client.key(request), bad[prompt]))

    async def go():
        replies = [await client.complete(r) for r in requests.values()]
        again = [await client.complete(r) for r in requests.values()]
        await client.close()
        return replies, again

    replies, again = asyncio.run(go())
    assert [r.text for r in replies] == ["fine"] * 3 and not any(r.cached for r in replies)
    assert all(r.cached and r.text == "fine" for r in again)
    assert FlakyHandler.hits == {p: 1 for p in requests}


def test_empty_choices_do_not_crash_a_run_nor_poison_its_rerun(flaky_server, tmp_path):
    """Self-Instruct against a server answering empty choices: the run ends with error rows
    (exit 0, no traceback); the rerun against the healthy server pays for real answers."""
    recipe = tmp_path / "si.yaml"
    recipe.write_text(
        "name: si\n"
        f"backend: {{type: openai, base_url: '{flaky_server}', model: flaky, max_retries: 1}}\n"
        "steps:\n"
        "  - method: self_instruct.bootstrap\n"
        "    params: {num_instructions: 2, max_requests: 2, requests_in_flight: 1}\n"
    )
    out, env = tmp_path / "data.jsonl", {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    command = ("run", str(recipe), "--out", str(out), "--quiet")
    FlakyHandler.fallback = "empty"
    first = run_cli(*command, cwd=tmp_path, env=env)
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr
    errors = read_jsonl(tmp_path / "data.errors.jsonl")
    assert errors and {e["_meta"]["error"]["kind"] for e in errors} == {"bad_response"}
    FlakyHandler.fallback = "ok"
    second = run_cli(*command, cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert summary_of(out)["llm"]["model_calls"] > 0
    assert [r["instruction"] for r in read_jsonl(out)] == [
        "Write a haiku about autumn leaves.",
        "List three uses of a paperclip.",
    ]


def test_huge_retry_after_fails_the_request_instead_of_stalling(flaky_server, tmp_path):
    FlakyHandler.scripts = {"tomorrow": ["huge_wait"] * 3}
    client = make_client(flaky_server, tmp_path)
    assert client.backend.max_retry_after == 60  # the default cap
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"retry after 86400s, more than max_retry_after \(60s\)"):
        asyncio.run(client.complete(chat(("user", "tomorrow"))))
    assert time.monotonic() - started < 5
    assert FlakyHandler.hits["tomorrow"] == 1
    assert client.stats.failures == {"rate_limit": 1}


def test_retry_after_cap_is_configurable_and_the_wait_shows_in_progress(flaky_server, tmp_path):
    FlakyHandler.scripts = {"busy": ["wait1"], "capped": ["wait1"]}
    backend = OpenAIBackend(flaky_server, "flaky", timeout=5, max_retry_after=0.5)
    capped = LLMClient(backend, None, backoff_base=0.05)
    with pytest.raises(LLMError, match="more than max_retry_after"):
        asyncio.run(capped.complete(chat(("user", "capped"))))
    client = make_client(flaky_server, tmp_path)
    other = make_client(flaky_server, tmp_path / "other")  # as a run with a named backend
    both = TotalStats([other.stats, client.stats])
    progress = Progress([StepStats("gen", "m")], both, total=None)  # type: ignore[arg-type]

    async def go():
        task = asyncio.ensure_future(client.complete(chat(("user", "busy"))))
        while not client.stats.waiting and not task.done():
            await asyncio.sleep(0.02)
        line = progress.line()
        reply = await task
        await client.close()
        return line, reply

    line, reply = asyncio.run(go())
    assert "server asked to wait 1s (1 calls)" in line
    assert reply.text == "fine" and "server asked" not in progress.line()


def test_an_echoed_api_key_is_redacted_from_errors_and_records(flaky_server, tmp_path):
    """A 400 whose body echoes the Authorization header: neither the key nor any part of
    it reaches the error text, the records, the errors file or the summary."""
    secret = "sk-test-0123456789abcdefghijklmnopqrstuvwxyz"
    FlakyHandler.scripts, FlakyHandler.fallback = {}, "echo400"
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"), "FLAKY_KEY": secret}
    recipe = tmp_path / "si.yaml"
    recipe.write_text(
        "name: si\n"
        f"backend: {{type: openai, base_url: '{flaky_server}', model: flaky, "
        "api_key_env: FLAKY_KEY}\n"
        "steps:\n"
        "  - method: self_instruct.bootstrap\n"
        "    params: {num_instructions: 1, max_requests: 1, mode: chat}\n"
    )
    out = tmp_path / "data.jsonl"
    result = run_cli("run", str(recipe), "--out", str(out), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    errors = read_jsonl(tmp_path / "data.errors.jsonl")
    assert errors[0]["_meta"]["error"]["kind"] == "bad_request"
    assert "bad key ***" in errors[0]["_meta"]["error"]["message"]
    for text in [result.stdout, result.stderr] + [
        p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()
    ]:
        assert secret[:12] not in text


def test_embedding_endpoint_redacts_the_key_and_caps_retry_after(flaky_server, monkeypatch):
    from synthaug.llm.embeddings import Endpoint

    secret = "sk-embed-0123456789abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv("FLAKY_KEY", secret)
    FlakyHandler.scripts = {"echo": ["echo400"], "tomorrow": ["huge_wait"]}
    endpoint = Endpoint(flaky_server, "flaky", api_key_env="FLAKY_KEY", timeout=5)
    with pytest.raises(BackendUnavailable, match="400") as echoed:
        endpoint.embed(["echo"])
    assert secret[:12] not in str(echoed.value) and "bad key ***" in str(echoed.value)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="429"):
        endpoint.embed(["tomorrow"])
    assert time.monotonic() - started < 5 and FlakyHandler.hits["tomorrow"] == 1


@pytest.fixture(scope="module")
def llamacpp_http():
    """llama.cpp's HTTP server with the bundled model, locked by an API key."""
    server, url = start_llamacpp_http("test-token")
    yield url
    del server


def test_real_llamacpp_server_chat_completion_and_schema(llamacpp_http, tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMA_KEY", "test-token")
    backend = OpenAIBackend(llamacpp_http, "smollm2", api_key_env="LLAMA_KEY")
    client = LLMClient(backend, RequestCache(tmp_path / "cache.sqlite3"))
    schema = YES_NO_SCHEMA

    async def go():
        await backend.start()
        replies = await asyncio.gather(
            client.complete(chat(("user", "Name a fruit."), max_tokens=16, seed=3)),
            client.complete(ChatRequest(prompt="1. Write a poem.\n2.", max_tokens=16, seed=3)),
            client.complete(chat(("user", "Is water wet?"), max_tokens=64, json_schema=schema)),
        )
        await client.close()
        return replies

    chat_reply, raw_reply, structured = asyncio.run(go())
    assert chat_reply.text.strip() and raw_reply.text.strip()
    assert json.loads(structured.text)["answer"] in ("Yes", "No")
    assert chat_reply.usage.completion_tokens > 0


def test_real_llamacpp_server_rejects_missing_key(llamacpp_http, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    backend = OpenAIBackend(llamacpp_http, "smollm2", api_key_env="NO_SUCH_KEY")
    with pytest.raises(BackendUnavailable, match="rejected the credentials"):
        asyncio.run(backend.start())
