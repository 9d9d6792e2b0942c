"""Exact and near-duplicate detection on real text with ground truth from exact Jaccard."""

from __future__ import annotations

import numpy as np
import pytest
from curation_corpus import jaccard, near_dup_corpus, shingles, true_keep_first_drops

from synthaug.curate.duplicates import ExactDuplicates, NearDupConfig, NearDuplicates
from synthaug.curate.minhash import catch_probability
from synthaug.curate.text import Normalization


def _drops(texts: list[str], config: NearDupConfig, batch: int = 64) -> dict:
    finder = NearDuplicates(config)
    for start in range(0, len(texts), batch):
        finder.add(texts[start : start + batch])
    return finder.resolve()


# Signature confirmation estimates Jaccard from 120 MinHash values (standard error
# about 0.04 near 0.8), so pairs just below the threshold slip through sometimes.
@pytest.mark.parametrize(("confirm", "floor"), [("exact", 0.95), ("signature", 0.9)])
def test_near_dup_precision_and_recall_at_jaccard_08(confirm, floor):
    texts = near_dup_corpus()
    truth = true_keep_first_drops(texts, 0.8)
    found = _drops(texts, NearDupConfig(confirm=confirm))
    hits = len(truth & set(found))
    precision, recall = hits / len(found), hits / len(truth)
    assert len(truth) > 40  # the corpus really contains near-duplicates
    assert precision >= floor, (precision, recall)
    assert recall >= floor, (precision, recall)


def test_every_dropped_document_names_a_kept_partner_above_the_threshold():
    texts = near_dup_corpus(seed=1)
    found = _drops(texts, NearDupConfig(confirm="exact"))
    for doc, duplicate in found.items():
        assert duplicate.partner not in found
        assert duplicate.partner < doc
        true = jaccard(shingles(texts[doc]), shingles(texts[duplicate.partner]))
        assert true == pytest.approx(duplicate.similarity) and true >= 0.8


def test_many_identical_copies_collapse_to_one():
    texts = near_dup_corpus()[:50] + ["the same sentence repeated for the cluster test ok"] * 500
    found = _drops(texts, NearDupConfig())
    copies = [i for i in range(50, 550) if i in found]
    assert len(copies) == 499 and all(found[i].partner == 50 for i in copies)


def test_keep_longest_keeps_the_longer_text_of_a_pair():
    base = near_dup_corpus()[0]
    longer = base + " and one more clause at the end"
    finder = NearDuplicates(NearDupConfig(threshold=0.5))
    finder.add([base, longer], [len(base), len(longer)])
    found = finder.resolve()
    assert set(found) == {0} and found[0].partner == 1


def test_chains_do_not_merge_dissimilar_documents():
    # a ~ b and b ~ c but a !~ c: keep-first drops b only, c survives beside a
    a = " ".join(f"w{i}" for i in range(40))
    b = " ".join(f"w{i}" for i in range(5, 45))
    c = " ".join(f"w{i}" for i in range(10, 50))
    assert jaccard(shingles(a), shingles(b)) > 0.7 and jaccard(shingles(a), shingles(c)) < 0.7
    found = _drops([a, b, c], NearDupConfig(threshold=0.7))
    assert set(found) == {1}


def test_empty_texts_are_never_near_duplicates():
    assert _drops(["", "", "   "], NearDupConfig()) == {}


def test_s_curve_reports_recall_at_the_threshold():
    assert catch_probability(0.8, 20, 6) == pytest.approx(0.9977, abs=1e-4)
    assert catch_probability(0.8, 14, 8) == pytest.approx(0.9235, abs=1e-4)
    assert NearDupConfig().catch_at_threshold > 0.99


def test_signatures_are_stable_across_instances():
    texts = near_dup_corpus()[:20]
    one, two = NearDuplicates(), NearDuplicates()
    one.add(texts)
    two.add(texts[:7])
    two.add(texts[7:])
    assert np.array_equal(np.concatenate(one._blocks), np.concatenate(two._blocks))


def test_exact_dedup_normalisation_and_keep_policy():
    finder = ExactDuplicates(Normalization(lowercase=True, strip_punctuation=True))
    finder.add(["Hello, World!", "hello world", "HELLO   WORLD", "other"], [0, 5, 1, 0])
    found = finder.resolve()
    assert set(found) == {0, 2} and found[0].partner == 1
    strict = ExactDuplicates(Normalization(lowercase=False))
    strict.add(["Hello", "hello", "Hello"])
    assert set(strict.resolve()) == {2}
