"""Decontamination against the bundled HumanEval and MT-Bench, on real text."""

from __future__ import annotations

import random

import pytest
from curation_corpus import edit, humaneval_items, mt_bench_texts, seed_texts

from synthaug.curate.decontaminate import Decontaminator, load_benchmark
from synthaug.curate.text import words
from synthaug.errors import InputError

LIGHT_EDITS = ("case_punct", "insert_word", "delete_word")


def _planted(seed: int = 0):
    rng = random.Random(seed)
    benchmark_texts = mt_bench_texts() + [
        i["prompt"] + i["canonical_solution"] for i in humaneval_items()
    ]
    chosen = rng.sample(benchmark_texts, 120)
    verbatim = [f"Question from a user: {text}\nThanks!" for text in chosen[:60]]
    edited = []
    for text in chosen[60:]:
        kind = rng.choice((*LIGHT_EDITS, "one_word"))
        if kind == "one_word":
            words = text.split()
            words[rng.randrange(len(words))] = "banana"
            edited.append(" ".join(words))
        else:
            edited.append(edit(text, kind, rng))
    return verbatim, edited


@pytest.fixture(scope="module")
def index() -> Decontaminator:
    return Decontaminator(load_benchmark("humaneval") + load_benchmark("mt_bench"))


def test_13gram_overlap_finds_planted_items_and_nothing_in_clean_text(index):
    verbatim, edited = _planted()
    clean = seed_texts()
    results = index.check(verbatim + edited + clean)
    found_verbatim = sum(bool(r) for r in results[: len(verbatim)])
    found_edited = sum(bool(r) for r in results[len(verbatim) : len(verbatim) + len(edited)])
    false_hits = [clean[i] for i, r in enumerate(results[len(verbatim) + len(edited) :]) if r]
    assert found_verbatim == len(verbatim)
    assert found_edited >= 0.9 * len(edited), found_edited
    assert false_hits == []


def test_hits_name_benchmark_item_and_ngram(index):
    item = load_benchmark("mt_bench")[5]
    [hits] = index.check(["Prefix words. " + item.text.upper()])
    assert [(h.benchmark, h.item_id) for h in hits] == [("mt_bench", item.item_id)]
    assert len(hits[0].evidence.split()) == 13 and hits[0].evidence in " ".join(words(item.text))
    assert hits[0].similarity == 1.0


def test_coverage_mode_uses_the_share_of_item_8grams():
    item = load_benchmark("mt_bench")[10]
    index = Decontaminator([item], mode="coverage", threshold=0.7)
    words = item.text.split()
    assert index.check([item.text])[0][0].similarity == 1.0
    assert index.check([" ".join(words[: len(words) // 3])]) == [[]]


def test_user_benchmark_file_with_fields_and_ids(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text(
        '{"qid": "q1", "question": "What is the boiling point of water at sea level in degrees '
        'Celsius and why does it change with altitude above the sea?"}\n'
    )
    items = load_benchmark(str(path), ["question"], "qid")
    assert [(i.benchmark, i.item_id) for i in items] == [("bench", "q1")]
    hits = Decontaminator(items).check(
        ["so: what is the boiling point of water at sea level in degrees celsius and why"]
    )
    assert hits[0][0].item_id == "q1"


def test_unknown_benchmark_and_missing_fields_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="unknown benchmark"):
        load_benchmark("no_such_bench")
    path = tmp_path / "bench.jsonl"
    path.write_text('{"q": "x"}\n')
    with pytest.raises(InputError, match="text field"):
        load_benchmark(str(path))
    with pytest.raises(InputError, match="field 'question'"):
        load_benchmark(str(path), ["question"])
