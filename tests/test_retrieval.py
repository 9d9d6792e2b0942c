"""Retrieval over the chunks of real documents (tests/fixtures/documents): BM25 through bm25s
agrees with bm25s called directly and ranks the known passage first for real questions; RRF;
MiniLM dense and hybrid retrieval (one small test); the ``ingest`` and ``retrieve`` steps run
end to end through ``synthaug run``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import bm25s
import numpy as np
import pytest
from conftest import read_jsonl, run_cli

from synthaug.ingest.corpus import ChunkingParams, IngestStats, ingest
from synthaug.llm.cache import RequestCache
from synthaug.llm.embeddings import Embedder, MiniLM
from synthaug.retrieval import BM25Index, DenseIndex, Hit, HybridIndex, reciprocal_rank_fusion

DOCUMENTS = Path(__file__).parent / "fixtures" / "documents"
# real questions about the documents, and a passage (whitespace-normalised) that answers each
QUESTIONS = {
    "How do I prepare a call interface object before calling a function?": (
        "To prepare a call interface object, use the function ffi_prep_cif"
    ),
    "Which user does the man program run as, and where does it write cat pages?": (
        "runs as user man, so it can write cat pages to /var/cache/man"
    ),
    "Where are the MIME glob patterns stored?": (
        "The glob file is a simple list of lines containing a MIME type and pattern"
    ),
}


def normal(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def chunks() -> list[dict]:
    return list(ingest([DOCUMENTS], ChunkingParams(), IngestStats()))


def answers(chunks: list[dict], hit: Hit, passage: str) -> bool:
    return passage in normal(chunks[hit.index]["text"])


def test_bm25_ranks_the_answering_chunk_first(chunks):
    index = BM25Index([c["text"] for c in chunks])
    results = index.search(list(QUESTIONS), k=5)
    for (question, passage), hits in zip(QUESTIONS.items(), results, strict=True):
        assert answers(chunks, hits[0], passage), question
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert index.search(["zzqx qqzx"], k=5) == [[]]  # no shared word: nothing, not noise


def test_bm25_agrees_with_bm25s_called_directly(chunks):
    texts = [c["text"] for c in chunks]
    queries = [*QUESTIONS, *(normal(c["text"])[:80] for c in chunks[::9])]
    ours = BM25Index(texts, k1=1.2, b=0.6).search(queries, k=10)
    direct = bm25s.BM25(k1=1.2, b=0.6)
    direct.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    ids, scores = direct.retrieve(
        bm25s.tokenize(queries, stopwords="en", show_progress=False), k=10, show_progress=False
    )
    for hits, row_ids, row_scores in zip(ours, ids, scores, strict=True):
        positive = row_scores > 0
        assert [h.index for h in hits] == row_ids[positive].tolist()
        assert np.allclose([h.score for h in hits], row_scores[positive], rtol=1e-6)


def test_reciprocal_rank_fusion_sums_one_over_c_plus_rank():
    bm25 = [Hit(1, 9.0), Hit(2, 5.0), Hit(3, 1.0)]
    dense = [Hit(3, 0.9), Hit(1, 0.8)]
    fused = reciprocal_rank_fusion([bm25, dense], k=3, c=60)
    assert [h.index for h in fused] == [1, 3, 2]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1].score == pytest.approx(1 / 63 + 1 / 61)
    assert reciprocal_rank_fusion([bm25, dense], k=1) == fused[:1]


class Counting(Embedder):
    """MiniLM, counting the texts it is asked to embed (to see the cache work)."""

    def __init__(self, inner: Embedder):
        self.inner, self.identity, self.texts = inner, inner.identity, 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_minilm_dense_and_hybrid_retrieval_cached(chunks, tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite3")
    embedder = Counting(MiniLM(cache=cache))
    texts = [c["text"] for c in chunks]
    dense = DenseIndex(texts, embedder, cache)
    assert embedder.texts == len(set(texts))
    hybrid = HybridIndex([BM25Index(texts), dense])
    questions = list(QUESTIONS)
    for passage, near, fused in zip(
        QUESTIONS.values(), dense.search(questions, 5), hybrid.search(questions, 5), strict=True
    ):
        assert any(answers(chunks, hit, passage) for hit in near), passage  # MiniLM: top 5
        assert answers(chunks, fused[0], passage), passage  # fused with BM25: first
    asked = embedder.texts
    DenseIndex(texts, embedder, cache).search(list(QUESTIONS), 3)  # all from the cache now
    assert embedder.texts == asked


def test_ingest_and_retrieve_steps_run_end_to_end(tmp_path):
    chunks_file = tmp_path / "chunks.jsonl"
    cli = run_cli("ingest", str(DOCUMENTS), "-o", str(chunks_file), "--quiet", cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    from_cli = read_jsonl(chunks_file)

    ingest_recipe = tmp_path / "ingest.yaml"
    ingest_recipe.write_text(
        textwrap.dedent(
            f"""
            name: ingest
            seed: 0
            steps:
              - method: ingest
                params: {{paths: [{json.dumps(str(DOCUMENTS))}, missing.pdf]}}
            """
        )
    )
    out = tmp_path / "steps.jsonl"
    run = run_cli("run", str(ingest_recipe), "--out", str(out), "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    from_step = read_jsonl(out)
    assert [{k: v for k, v in r.items() if k != "_meta"} for r in from_step] == from_cli
    errors = read_jsonl(tmp_path / "steps.errors.jsonl")
    assert [e["_meta"]["error"]["kind"] for e in errors] == ["unreadable_document"]
    assert "missing.pdf: no such file" in errors[0]["_meta"]["error"]["message"]

    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"question": q}) + "\n" for q in QUESTIONS))
    retrieve_recipe = tmp_path / "retrieve.yaml"
    retrieve_recipe.write_text(
        textwrap.dedent(
            f"""
            name: retrieve
            seed: 0
            steps:
              - method: load
                params: {{path: {json.dumps(str(questions))}}}
              - method: retrieve
                params: {{chunks: {json.dumps(str(chunks_file))}, k: 3}}
            """
        )
    )
    found = tmp_path / "found.jsonl"
    run = run_cli("run", str(retrieve_recipe), "--out", str(found), "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    text_of = {c["chunk_id"]: normal(c["text"]) for c in from_cli}
    rows = read_jsonl(found)
    assert [r["question"] for r in rows] == list(QUESTIONS)
    for row in rows:
        assert len(row["retrieved"]) == 3
        assert QUESTIONS[row["question"]] in text_of[row["retrieved"][0]["chunk_id"]]
