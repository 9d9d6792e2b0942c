"""The ``openai`` backend over several replicas of one model: two real llama.cpp HTTP servers
on 127.0.0.1 (the bundled model, behind an API key), a port nothing listens on, and a real
HTTP gateway of ours in front of one replica that starts answering 503 mid-run."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from conftest import read_jsonl, run_cli, start_llamacpp_http, summary_of

from synthaug.errors import BackendUnavailable
from synthaug.llm.cache import RequestCache
from synthaug.llm.client import LLMClient
from synthaug.llm.endpoints import EndpointPool, choose
from synthaug.llm.openai import OpenAIBackend, OpenAIOptions
from synthaug.llm.types import chat

KEY = "replica-token"
ROWS = 6


def test_choose_takes_the_least_busy_healthy_endpoint_ties_to_the_lowest_index():
    assert choose([0, 0, 0], cap=2, down=[False] * 3) == 0
    assert choose([1, 0, 0], cap=2, down=[False] * 3) == 1
    assert choose([1, 1, 0], cap=2, down=[False] * 3) == 2
    assert choose([2, 1, 1], cap=2, down=[False] * 3) == 1
    assert choose([0, 1], cap=2, down=[True, False]) == 1  # a down one is avoided
    assert choose([0, 2], cap=2, down=[True, False]) is None  # wait for the healthy one
    assert choose([1, 0], cap=2, down=[True, True]) == 1  # all down: try them anyway
    assert choose([2, 2], cap=2, down=[False, False]) is None


def test_pool_caps_each_endpoint_and_counts_what_it_served():
    pool = EndpointPool(["http://a/v1", "http://b/v1"], cap=2)
    peak = [0, 0]

    async def call():
        async with pool.use() as index:
            peak[index] = max(peak[index], pool.in_flight[index])
            await asyncio.sleep(0.01)
            pool.answered(index)

    async def go():
        await asyncio.gather(*(call() for _ in range(10)))

    asyncio.run(go())
    assert peak == [2, 2] and pool.in_flight == [0, 0]
    assert sum(pool.served.values()) == 10 and set(pool.served) == {"http://a/v1", "http://b/v1"}


def test_identity_is_the_model_and_the_sorted_endpoint_set():
    one = OpenAIBackend(["http://b:1/v1/", "http://a:1/v1"], "m")
    other = OpenAIBackend(["http://a:1/v1", "http://b:1/v1"], "m")
    assert one.identity(str) == other.identity(str) == "openai:http://a:1/v1,http://b:1/v1:m"
    assert one.max_concurrency == 2 * 32  # the client's limit: every replica's slots
    assert OpenAIBackend("http://a:1/v1/", "m").identity(str) == "openai:http://a:1/v1:m"
    with pytest.raises(ValueError, match="listed twice"):
        OpenAIOptions(base_url=["http://a/v1", "http://a/v1/"], model="m")
    assert OpenAIOptions(base_url=["http://a/v1"], model="m").base_url == "http://a/v1"


def dead_url() -> str:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.fixture(scope="module")
def replicas():
    first, url_a = start_llamacpp_http(KEY, threads=1)
    second, url_b = start_llamacpp_http(KEY, threads=1)
    yield url_a, url_b
    del first, second


def test_start_fails_only_when_no_endpoint_answers(replicas, monkeypatch):
    monkeypatch.setenv("K", KEY)
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        asyncio.run(OpenAIBackend([dead_url(), dead_url()], "smollm2", api_key_env="K").start())
    backend = OpenAIBackend([dead_url(), replicas[0]], "smollm2", api_key_env="K")

    async def go():
        await backend.start()
        down = backend.pool.down()
        template = await backend.apply_template([{"role": "user", "content": "Hi"}])
        await backend.close()
        return down, template

    down, template = asyncio.run(go())
    assert down == [True, False] and "Hi" in template  # rendered by the replica that is up


def test_a_replica_failing_mid_run_is_retried_on_another(replicas, tmp_path, monkeypatch):
    """No start check: the dead replica is found by the calls themselves (connection
    refused), each retried by the client on the live one."""
    monkeypatch.setenv("K", KEY)
    dead = dead_url()
    backend = OpenAIBackend([dead, replicas[1]], "smollm2", api_key_env="K", max_concurrency=2)
    client = LLMClient(backend, RequestCache(tmp_path / "c.sqlite3"), backoff_base=0.05)

    async def go():
        asks = [chat(("user", f"Say the number {i}."), max_tokens=8, seed=i) for i in range(3)]
        replies = await asyncio.gather(*(client.complete(ask) for ask in asks))
        await client.close()
        return replies

    replies = asyncio.run(go())
    assert all(reply.text.strip() for reply in replies)
    assert client.stats.retries >= 1 and not client.stats.failures
    assert client.stats.endpoints == {replicas[1]: 3}


def run(tmp_path, urls: str, env: dict[str, str], out_name: str = "data.jsonl", extra=()):
    """``synthaug run`` of load + ``lamini.respond`` over ``ROWS`` rows with ``--base-url
    urls``; the records, the summary and stderr."""
    recipe = tmp_path / "respond.yaml"
    if not recipe.exists():
        rows = [{"instruction": f"Name one use of the number {i}."} for i in range(ROWS)]
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        recipe.write_text(
            "name: respond\n"
            "backend: {type: openai, base_url: http://unused/v1, model: smollm2, "
            "max_concurrency: 2}\n"
            "steps:\n"
            "  - {method: load, params: {path: in.jsonl}}\n"
            "  - {method: lamini.respond, params: {temperature: 0, max_tokens: 16}}\n"
        )
    out = tmp_path / out_name
    done = run_cli(
        "run", str(recipe), "--out", str(out), "--quiet", "--base-url", urls,
        "--api-key-env", "K", *extra, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stderr + out.read_text() + json.dumps(summary_of(out))
    return read_jsonl(out), summary_of(out), done.stderr


def strip(records):
    return [{k: v for k, v in r.items() if k != "_meta"} for r in records]


def test_a_run_spreads_over_replicas_and_replays_in_any_order(replicas, tmp_path):
    url_a, url_b = replicas
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"), "K": KEY}
    records, summary, _ = run(tmp_path, f"{url_a},{url_b}", env)
    assert len(records) == ROWS and all(r["response"].strip() for r in records)
    served = summary["llm"]["endpoints"]
    assert set(served) == {url_a, url_b} and all(served.values())
    assert sum(served.values()) == summary["llm"]["model_calls"] == ROWS

    again, replay, _ = run(tmp_path, f"{url_b},{url_a}", env, "again.jsonl")
    assert replay["llm"]["model_calls"] == 0 and replay["llm"]["cache_hits"] == ROWS
    assert again == records and "endpoints" not in replay["llm"]

    single, alone, _ = run(tmp_path, url_a, env, "single.jsonl")
    assert "endpoints" not in alone["llm"] and alone["llm"]["model_calls"] == ROWS
    assert strip(single) == strip(records)  # greedy, one thread: same text on any replica

    dead = dead_url()
    env["SYNTHAUG_CACHE"] = str(tmp_path / "fresh.sqlite3")
    survived, summary, stderr = run(tmp_path, f"{dead},{url_b}", env, "survived.jsonl")
    assert strip(survived) == strip(records)
    assert summary["llm"]["endpoints"] == {url_b: ROWS}
    assert stderr.count(f"cannot reach {dead}") == 1


def test_ray_workers_each_spread_over_the_replicas(replicas, tmp_path):
    """``--executor ray`` (a local Ray): every shard's worker takes the same list; the summary
    adds up what each replica served; a local run replays the shards' answers."""
    url_a, url_b = replicas
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"), "K": KEY}
    ray_args = ["--executor", "ray", "--workers", "2"]
    records, summary, _ = run(tmp_path, f"{url_a},{url_b}", env, extra=ray_args)
    assert len(records) == ROWS and all(r["response"].strip() for r in records)
    served = summary["llm"]["endpoints"]
    assert set(served) == {url_a, url_b} and sum(served.values()) == ROWS
    parts = sorted(tmp_path.rglob("part.summary.json"))
    assert len(parts) == 2
    for part in parts:  # each worker spread its own calls
        assert set(json.loads(part.read_text())["llm"]["endpoints"]) == {url_a, url_b}
    local, replay, _ = run(tmp_path, f"{url_b},{url_a}", env, "local.jsonl")
    assert replay["llm"]["model_calls"] == 0 and local == records


class FailingReplica(BaseHTTPRequestHandler):
    """A gateway in front of a real replica (``target``) whose model goes away after
    ``answers`` completions: every later one is a 503, as a crashed backend behind a proxy
    answers."""

    target, answers, posts = "", 1, 0
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._forward(httpx.get(self.target + self.path[3:], headers=self._auth()))

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            FailingReplica.posts += 1
            up = FailingReplica.posts <= self.answers
        if not up:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        url = self.target + self.path[3:]  # both end in /v1
        self._forward(httpx.post(url, content=body, headers=self._auth(), timeout=60))

    def _auth(self):
        return {"Authorization": self.headers["Authorization"], "Content-Type": "application/json"}

    def _forward(self, response):
        self.send_response(response.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)


def test_a_replica_going_down_mid_run_loses_no_row(replicas, tmp_path):
    url_a, url_b = replicas
    FailingReplica.target, FailingReplica.posts = url_a, 0
    gateway = ThreadingHTTPServer(("127.0.0.1", 0), FailingReplica)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    flaky = f"http://127.0.0.1:{gateway.server_address[1]}/v1"
    try:
        env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"), "K": KEY}
        records, summary, _ = run(tmp_path, f"{flaky},{url_b}", env)
    finally:
        gateway.shutdown()
        gateway.server_close()
    assert len(records) == ROWS and all(r["response"].strip() for r in records)
    assert FailingReplica.posts > FailingReplica.answers  # it did fail calls mid-run
    assert summary["llm"]["endpoints"] == {flaky: 1, url_b: ROWS - 1}
    assert summary["llm"]["retries"] >= 1 and not summary["llm"]["failed_calls"]
