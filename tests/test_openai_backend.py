"""The OpenAI-compatible backend against real HTTP servers on 127.0.0.1.

One is llama.cpp's own server (the bundled model, behind an API key); the
other is a small misbehaving server of ours that answers 429, 500, slowly,
with truncated bodies or with non-JSON, following a per-prompt script.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import YES_NO_SCHEMA, start_llamacpp_http

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


class FlakyHandler(BaseHTTPRequestHandler):
    """Replies by the script for the request's last user message; then succeeds."""

    scripts: dict[str, list[str]] = {}
    hits: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self._send(200, json.dumps({"data": [{"id": "flaky"}]}).encode())

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        with self.lock:
            step = self.hits.get(prompt, 0)
            self.hits[prompt] = step + 1
        script = self.scripts.get(prompt, [])
        action = script[step] if step < len(script) else "ok"
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
        else:
            self._send(200, json.dumps(GOOD).encode())

    def _send(self, status, payload, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture()
def flaky_server():
    FlakyHandler.hits = {}
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
