"""Quiet-STaR data: word-boundary positions, thought insertion between the markers, and the
recipe on the embedded model (thoughts scored by the log-likelihood gain of the next true
tokens, kept exactly when the gain exceeds the threshold), rerun from the cache."""

from __future__ import annotations

import json
from importlib import resources

from conftest import run_recipe_twice, write_jsonl

from synthaug.methods.reasoning.quiet_star import boundaries, insert_thoughts

START, END = "<|startthought|>", "<|endthought|>"


def test_boundaries_are_the_spaces_before_words():
    text = "Ann had 3 apples,  then 5."
    assert [text[i + 1 :].split()[0] for i in boundaries(text)] == ["had", "3", "apples,", "5."]
    assert boundaries("one") == []


def test_thoughts_go_before_their_word_between_the_markers():
    text = "She ran 5 laps, 2000 metres."
    thoughts = [{"offset": 15, "thought": "5 x 400"}, {"offset": 3, "thought": "a runner"}]
    assert insert_thoughts(text, thoughts, START, END) == (
        f"She {START}a runner{END} ran 5 laps, {START}5 x 400{END} 2000 metres."
    )


def test_quiet_star_recipe_keeps_thoughts_by_likelihood_gain(tmp_path):
    path = resources.files("synthaug") / "data" / "toolformer_texts.jsonl"
    text = json.loads(path.read_text(encoding="utf-8").splitlines()[4])["text"]
    write_jsonl(tmp_path / "texts.jsonl", [{"text": text}])
    # threshold -1000: every scored thought stays, so the insertion is exercised on real output
    records = run_recipe_twice(tmp_path, "quiet_star",
                               "--set", "steps[0].params.path=texts.jsonl",
                               "--set", "steps[1].params.positions=1",
                               "--set", "steps[1].params.threshold=-1000",
                               "--set", "backend.deterministic=true",
                               "--set", "backend.threads=1")  # fmt: skip
    (row,) = records
    thoughts = row["thoughts"]
    assert thoughts, "no thought could be scored"
    (offset,) = {t["offset"] for t in thoughts}
    assert offset in boundaries(text)
    for t in thoughts:
        assert t["gain"] == round(t["logprob"] - t["base_logprob"], 6)
        assert t["kept"] == (t["gain"] > -1000) and t["base_logprob"] <= 0
    best = max(thoughts, key=lambda t: t["gain"])
    assert row["thought_text"] == insert_thoughts(text, [best], START, END)
    assert row["thought_text"].replace(f" {START}{best['thought']}{END}", "") == text
