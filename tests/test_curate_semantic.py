"""SemDeDup with the bundled MiniLM and with a real OpenAI-compatible embeddings server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from conftest import read_jsonl, run_cli, start_llamacpp_http, write_jsonl
from curation_corpus import seed_texts

from synthaug.curate.semantic import SemanticDuplicates, semdedup
from synthaug.errors import BackendUnavailable
from synthaug.llm.cache import RequestCache
from synthaug.llm.embeddings import Endpoint, MiniLM, embed_cached


class CountingMiniLM(MiniLM):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedded = 0

    def embed(self, texts):
        self.embedded += len(texts)
        return super().embed(texts)


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    cache = RequestCache(tmp_path_factory.mktemp("cache") / "cache.sqlite3")
    return CountingMiniLM(cache=cache), cache


def _variant(text: str) -> str:
    """Upper case and doubled spaces: the same tokens for MiniLM's uncased tokenizer."""
    return text.upper().replace(" ", "  ")


def test_semdedup_keeps_the_member_farthest_from_the_centroid():
    base = np.array([1.0, 0.0, 0.0])
    twin = np.array([0.9999, 0.0141, 0.0])
    far = np.array([0.6, 0.8, 0.0])
    vectors = np.stack([v / np.linalg.norm(v) for v in (base, twin, far)])
    removed = semdedup(vectors, epsilon=0.01, clusters=1)
    # the centroid leans from base towards far, so twin is nearer to it than base: base stays
    assert set(removed) == {1} and removed[1].partner == 0 and removed[1].similarity > 0.99


def test_minilm_finds_surface_variants_and_spares_distinct_tasks(minilm):
    embedder, cache = minilm
    originals = seed_texts()[:80]
    texts = originals + [_variant(t) for t in originals[:30]]
    detector = SemanticDuplicates(embedder, cache, epsilon=0.01)
    detector.add(texts[:50])
    detector.add(texts[50:])
    removed = detector.resolve()
    pairs = [(i, 80 + i) for i in range(30)]
    assert sum((a in removed) + (b in removed) == 1 for a, b in pairs) >= 27
    assert all(removed[d].similarity > 0.99 for d in removed)
    distinct_removed = [d for d in removed if 30 <= d < 80]
    assert distinct_removed == []


def test_minilm_with_a_looser_epsilon_catches_light_paraphrases(minilm):
    embedder, cache = minilm
    originals = seed_texts()[:40]
    texts = originals + ["Please: " + t for t in originals[:15]]
    strict = SemanticDuplicates(embedder, cache, epsilon=0.01)
    loose = SemanticDuplicates(embedder, cache, epsilon=0.02)
    for detector in (strict, loose):
        detector.add(texts)
    assert len(loose.resolve()) == 15 and len(strict.resolve()) < 15


def test_embeddings_are_cached(minilm):
    embedder, cache = minilm
    texts = seed_texts()[100:120]
    first = embed_cached(embedder, texts, cache)
    before = embedder.embedded
    again = embed_cached(embedder, texts, cache)
    assert embedder.embedded == before and np.array_equal(first, again)
    assert first.shape == (20, 384) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)


class FailingAfter(CountingMiniLM):
    """MiniLM that stops (like a killed process) once it has embedded ``limit`` texts."""

    def __init__(self, limit: int, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit

    def embed(self, texts):
        if self.embedded >= self.limit:
            raise KeyboardInterrupt
        return super().embed(texts)


def test_an_interrupted_embedding_pass_keeps_the_parts_it_finished(tmp_path, monkeypatch):
    monkeypatch.setattr("synthaug.llm.embeddings.STORE_EVERY", 8)
    cache = RequestCache(tmp_path / "cache.sqlite3")
    texts = seed_texts()[:20]
    with pytest.raises(KeyboardInterrupt):
        embed_cached(FailingAfter(limit=16), texts, cache)
    again = CountingMiniLM()
    vectors = embed_cached(again, texts, cache)
    assert again.embedded == 4 and vectors.shape == (20, 384)  # two parts of 8 were kept
    assert np.allclose(vectors, MiniLM().embed(texts), atol=1e-5)


def test_dedup_command_semantic_mode(tmp_path):
    originals = seed_texts()[:40]
    rows = [{"t": t} for t in originals + [_variant(t) for t in originals[:10]]]
    write_jsonl(tmp_path / "in.jsonl", rows)
    result = run_cli(
        "dedup",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--columns",
        "t",
        "--mode",
        "semantic",
        "--cache",
        "cache.sqlite3",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = read_jsonl(tmp_path / "out.report.jsonl")
    dropped = [r for r in report if not r["kept"]]
    assert len(dropped) == 10 and {r["reason"] for r in dropped} == {"semantic_duplicate"}
    assert len(read_jsonl(tmp_path / "out.jsonl")) == len(rows) - len(dropped)
    assert "embedder: minilm:" in result.stdout


def test_dedup_command_semantic_mode_keeps_the_earliest_row_with_order_input(tmp_path):
    originals = seed_texts()[:40]
    rows = [{"t": t} for t in originals + [_variant(t) for t in originals[:10]]]
    write_jsonl(tmp_path / "in.jsonl", rows)
    args = ["--columns", "t", "--mode", "semantic", "--order", "input", "--clusters", "1"]
    result = run_cli(
        "dedup", "in.jsonl", "-o", "out.jsonl", *args, "--cache", "cache.sqlite3", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = read_jsonl(tmp_path / "out.report.jsonl")
    dropped = [(i, r) for i, r in enumerate(report) if not r["kept"]]
    assert [i for i, _ in dropped] == list(range(40, 50))  # every later copy, no original
    assert [r["partner_row"] for _, r in dropped] == list(range(1, 11))
    assert "the earliest row stays" in result.stdout


@pytest.fixture(scope="module")
def llamacpp_embeddings():
    """llama.cpp's HTTP server serving mean-pooled embeddings of the bundled model, with a key."""
    server, url = start_llamacpp_http("embed-token", embedding=True)
    yield url
    del server


def test_endpoint_embedder_against_llamacpp_server(llamacpp_embeddings, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBED_KEY", "embed-token")
    embedder = Endpoint(llamacpp_embeddings, "smollm2", api_key_env="EMBED_KEY", batch_size=3)
    cache = RequestCache(tmp_path / "cache.sqlite3")
    texts = seed_texts()[:7]
    vectors = embed_cached(embedder, texts, cache)
    assert vectors.shape[0] == 7 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    same = Endpoint(llamacpp_embeddings, "smollm2", api_key_env="EMBED_KEY").embed(texts[:2])
    assert np.allclose(same, vectors[:2], atol=1e-4)
    assert "embed-token" not in (tmp_path / "cache.sqlite3").read_bytes().decode("latin-1")
    monkeypatch.setenv("EMBED_KEY", "wrong")
    with pytest.raises(BackendUnavailable, match="401"):
        Endpoint(llamacpp_embeddings, "smollm2", api_key_env="EMBED_KEY").embed(["x"])


class FlakyEmbeddings(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self):
        FlakyEmbeddings.calls += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if FlakyEmbeddings.calls == 1:
            self._send(429, {"error": "slow down"}, {"Retry-After": "0"})
        elif FlakyEmbeddings.calls == 2:
            self._send(500, {"error": "oops"})
        else:  # answers out of order, as the spec allows; the client must sort by index
            data = [
                {"index": i, "embedding": [float(i + 1), 1.0]} for i in range(len(body["input"]))
            ]
            self._send(200, {"data": data[::-1]})

    def _send(self, status, payload, headers=None):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


def test_endpoint_embedder_retries_429_and_500_and_orders_by_index():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyEmbeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        embedder = Endpoint(f"http://127.0.0.1:{server.server_port}/v1", "m")
        vectors = embedder.embed(["a", "b", "c"])
    finally:
        server.shutdown()
    assert FlakyEmbeddings.calls == 3
    expected = np.array([[1, 1], [2, 1], [3, 1]], dtype=np.float32)
    assert np.allclose(vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True))


def test_unreachable_endpoint_is_a_clear_error():
    embedder = Endpoint("http://127.0.0.1:9/v1", "m", max_retries=1)
    with pytest.raises(BackendUnavailable, match=r"127\.0\.0\.1:9/v1/embeddings"):
        embedder.embed(["x"])
