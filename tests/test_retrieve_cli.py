"""``synthaug retrieve``: the real documents of tests/fixtures/documents ingested, searched from
the command line (BM25 agrees with the index called directly; hybrid with MiniLM finds the
answering chunk), queries from a file, the output file whole or absent, bad input one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import read_jsonl, run_cli

from synthaug.retrieval import BM25Index

DOCUMENTS = Path(__file__).parent / "fixtures" / "documents"
QUESTION = "Where are the MIME glob patterns stored?"
ANSWER = "The glob file is a simple list of lines containing a MIME type and pattern"


@pytest.fixture(scope="module")
def chunks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("retrieve") / "chunks.jsonl"
    done = run_cli("ingest", str(DOCUMENTS), "-o", str(out), "--quiet", cwd=out.parent)
    assert done.returncode == 0, done.stderr
    return out


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_bm25_from_the_command_line_matches_the_index(chunks):
    rows = read_jsonl(chunks)
    queries = [QUESTION, "How do I prepare a call interface object?"]
    done = run_cli("retrieve", str(chunks), *queries, "-k", "3", cwd=chunks.parent)
    assert done.returncode == 0, done.stderr
    results = lines(done.stdout)
    direct = BM25Index([r["text"] for r in rows]).search(queries, 3)
    assert [r["query"] for r in results] == queries
    for result, hits in zip(results, direct, strict=True):
        assert [h["chunk_id"] for h in result["hits"]] == [rows[h.index]["chunk_id"] for h in hits]
        assert [h["rank"] for h in result["hits"]] == [1, 2, 3]
        for hit in result["hits"]:
            chunk = next(r for r in rows if r["chunk_id"] == hit["chunk_id"])
            assert hit["source"] == chunk["source"] and hit["text"] == chunk["text"]
    assert ANSWER in " ".join(results[0]["hits"][0]["text"].split())


def test_queries_file_hybrid_and_output_file(chunks, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"q": QUESTION}) + "\n")
    out = tmp_path / "hits.jsonl"
    done = run_cli("retrieve", str(chunks), "--queries", str(queries), "--query-column", "q",
                   "--mode", "hybrid", "-k", "2", "--no-text", "-o", str(out),
                   "--cache", str(tmp_path / "cache.sqlite3"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (result,) = read_jsonl(out)
    assert len(result["hits"]) == 2 and "text" not in result["hits"][0]
    top = next(r for r in read_jsonl(chunks) if r["chunk_id"] == result["hits"][0]["chunk_id"])
    assert ANSWER in " ".join(top["text"].split())


def test_bad_input_is_one_line_and_writes_nothing(chunks, tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text(json.dumps({"question": "fine"}) + "\n" + json.dumps({"question": 3}) + "\n")
    out = tmp_path / "hits.jsonl"
    for args, message in [
        (["--queries", str(bad)], f"{bad}:2: no text in column 'question'"),
        ([], "retrieve: give a QUERY or --queries FILE"),
        (["x", "-k", "0"], "--k: Input should be greater than or equal to 1"),
    ]:
        done = run_cli("retrieve", str(chunks), *args, "-o", str(out), cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [f"synthaug: error: {message}"]
        assert not out.exists()
    missing = run_cli("retrieve", str(tmp_path / "none.jsonl"), "x", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
