"""TRAIT on the embedded model: task problems grouped into task-oriented passages (each
problem, its answer and the model's reasoning, then an enlightenment paragraph), and the
general corpus ranked by MiniLM similarity to the problems; the corpus keeps the top share
with its score and nearest problem, checked against embeddings computed here."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
from conftest import run_recipe_twice, write_jsonl

from synthaug.llm.embeddings import MiniLM
from synthaug.methods.pretrain.trait import Corpus
from synthaug.retrieval import BM25Index

PROBLEMS = [
    {"question": "A car travels 120 km in 2 hours. What is its average speed in km/h?",
     "answer": "60"},
    {"question": "Which gas do plants take in for photosynthesis?", "answer": "carbon dioxide"},
    {"question": "What is the atomic number of carbon?", "answer": "6"},
]  # fmt: skip


def test_trait_corpus_selected_by_similarity_then_synthetic_passages(tmp_path):
    write_jsonl(tmp_path / "problems.jsonl", PROBLEMS)
    records = run_recipe_twice(tmp_path, "trait",
                               "--set", "steps[0].params.path=problems.jsonl",
                               "--set", "steps[2].params.max_tokens=48",
                               "--set", "steps[2].params.min_chars=1",
                               "--set", "backend.threads=1",
                               "--set", "backend.parallel=2")  # fmt: skip
    selected = [r for r in records if r["origin"] == "selected"]
    synthetic = [r for r in records if r["origin"] == "synthetic"]
    assert records == selected + synthetic  # stage 1 first, then stage 2
    assert {r["stage"] for r in selected} == {1} and {r["stage"] for r in synthetic} == {2}

    corpus_file = resources.files("synthaug") / "data" / "encyclopedia.jsonl"
    corpus = [json.loads(line) for line in corpus_file.read_text(encoding="utf-8").splitlines()]
    assert len(selected) == round(0.25 * len(corpus))
    embedder = MiniLM()
    similarity = (
        embedder.embed([r["text"] for r in corpus])
        @ embedder.embed([p["question"] for p in PROBLEMS]).T
    )
    best = similarity.max(axis=1)
    top = sorted(range(len(corpus)), key=lambda i: (-best[i], i))[: len(selected)]
    assert [r["corpus_index"] for r in selected] == top
    ids = [pid for r in synthetic for pid in r["problem_ids"]]
    for r in selected:
        i = r["corpus_index"]
        assert r["text"] == corpus[i]["text"] and r["title"] == corpus[i]["title"]
        assert np.isclose(r["score"], best[i], atol=1e-4)
        assert r["nearest_problem"] == ids[int(similarity[i].argmax())]

    # 3 problems, 2 per passage: a passage of two problems (with enlightenment) and one alone
    assert [len(r["problem_ids"]) for r in synthetic] == [2, 1]
    assert len(set(ids)) == 3
    problems = iter(PROBLEMS)
    for r in synthetic:
        paragraphs = r["text"].split("\n\n")
        for why in r["reasoning"]:
            p = next(problems)
            assert f"Problem: {p['question']}\nAnswer: {p['answer']}\n{why}" in r["text"]
        if len(r["problem_ids"]) > 1:
            assert r["enlightenment"] and r["text"].endswith(r["enlightenment"])
        else:
            assert r["enlightenment"] is None
        assert len(paragraphs) >= len(r["reasoning"])


def test_bm25_selection_scores_a_passage_by_its_best_problem():
    passages = ["The cat sat on the mat all day.", "Stocks fell sharply on Monday.",
                "A dog chased the cat up a tree.", "Rain is expected tomorrow."]  # fmt: skip
    problems = ["Where did the cat sit?", "Why did stocks fall on Monday?"]
    ranked = Corpus("corpus", mode="bm25").ranked(passages, problems, ctx=None)  # type: ignore[arg-type]
    per_problem = [
        {h.index: h.score for h in hits}
        for hits in BM25Index(passages).search(problems, len(passages))
    ]
    assert [i for i, _, _ in ranked][:2] in ([0, 1], [1, 0])
    scores = [score for _, score, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    for i, score, q in ranked:
        best = max(range(len(problems)), key=lambda k: per_problem[k].get(i, 0.0))
        assert q == best and score == per_problem[q][i]
