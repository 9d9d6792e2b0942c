"""TinyStories: the bundled vocabulary, the word check and the Instruct prefix on recorded
outputs, and the recipe on the embedded model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import run_cli, run_recipe_twice
from pydantic import ValidationError

from synthaug.engine.step import StepContext
from synthaug.methods.pretrain.tinystories import (
    FEATURES,
    Generate,
    Instruct,
    first_sentences,
    inflections,
    load_vocabulary,
    pick_sentence,
    sentences,
    story_fields,
)

DATA = Path(__file__).resolve().parent.parent / "synthaug" / "data"

# Recorded from SmolLM2-135M (Q4_1) answering the story prompt for the words
# feel / rubbish / unwilling and the features plot twist, bad ending, conflict
# (cut off at max_tokens=96), and the summary prompt for that story (max_tokens=40).
STORY = (
    "Once upon a time, in a faraway land, there lived a little baby named Sparkle. Sparkle was "
    "a little thing who loved to play in the sun.\n\nSparkle's mom had a special child who "
    "always had something to eat, so she helped Sparkle's mom find something to eat. She did "
    "this very simply by taking a small piece of food and putting it in her mouth.\n\nHowever, "
    "Sparkle didn't like the food because her mom"
)
SUMMARY_REPLY = (
    "Sparkle was a little thing who loved to play in the sun. Sparkle's mom had a special child "
    "who always had something to eat, so Sparkle's mom helped Sparkle's mom"
)
# Recorded from SmolLM2-135M for bite / pole / fresh (a quoted name ends a sentence).
QUOTED_STORY = (
    'In this kingdom, there was a special kind of fruit called the "Bark Tree" that was made '
    'of a special fruit called the "Bark Tree Fruit." The tree had a very special part called '
    'the "Bark Tree\'s Peel" that made it special.'
)


def test_bundled_vocabulary_is_the_dale_chall_list_split_by_part_of_speech():
    vocabulary = load_vocabulary()
    easy = set((DATA / "dale_chall_easy_words.txt").read_text().split())
    parts = [set(vocabulary[key]) for key in ("nouns", "verbs", "adjectives")]
    assert all(len(part) > 250 for part in parts)
    assert not (parts[0] & parts[1]) and not (parts[1] & parts[2]) and not (parts[0] & parts[2])
    assert set().union(*parts) <= easy
    assert {"dog", "apple"} <= parts[0] and {"jump", "bake"} <= parts[1]
    assert {"happy", "brave"} <= parts[2]
    assert not {"a", "ate", "boxes", "april", "about"} & set().union(*parts)  # closed class etc.


def test_word_check_on_a_recorded_story():
    required = {"verb": "feel", "noun": "rubbish", "adjective": "unwilling"}
    record = story_fields("  " + STORY + "\n", {"words": required, "features": ["conflict"]})
    assert record["story"] == STORY
    assert record["words_present"] == {"feel": False, "rubbish": False, "unwilling": False}
    assert record["all_words_present"] is False
    used = story_fields(
        STORY, {"words": {"verb": "love", "noun": "sun", "adjective": "little"}, "features": []}
    )
    assert used["words_present"] == {"love": True, "sun": True, "little": True}  # "loved"
    assert used["all_words_present"] is True
    assert {"jumped", "jumping", "jumps"} <= inflections("jump")
    assert {"happier", "happiest", "hopped", "baking"} <= (
        inflections("happy") | inflections("hop") | inflections("bake")
    )
    assert "ran" not in inflections("run")  # irregular forms are not counted


def test_story_prompt_draws_words_and_a_feature_subset():
    step = Generate("stories")
    ctx = StepContext(llm=None, run_seed=0, step_name="stories")
    vocabulary = load_vocabulary()
    draws = [step.draw(number, ctx) for number in range(40)]
    assert draws[3] == step.draw(3, ctx)  # seeded
    for draw in draws:
        assert draw["words"]["verb"] in vocabulary["verbs"]
        assert draw["words"]["noun"] in vocabulary["nouns"]
        assert draw["words"]["adjective"] in vocabulary["adjectives"]
    sizes = {len(draw["features"]) for draw in draws}
    assert min(sizes) <= 1 and max(sizes) >= 4  # subsets of many sizes
    prompt = step.request(0, draws[0], ctx).messages[0]["content"]
    assert all(f'"{word}"' in prompt for word in draws[0]["words"].values())
    assert all(FEATURES[feature][1] in prompt for feature in draws[0]["features"])


def test_instruct_sentence_summary_and_kinds_on_recorded_outputs():
    assert sentences(QUOTED_STORY)[0].endswith('"Bark Tree Fruit."')
    sentence = pick_sentence(STORY, random.Random(1), min_words=4)
    assert sentence in sentences(STORY) and len(sentence.split()) >= 4
    assert pick_sentence("Hi. Bye.", random.Random(1), min_words=4) is None
    assert first_sentences(SUMMARY_REPLY) == SUMMARY_REPLY  # two sentences, the second cut off
    assert first_sentences("One. Two. Three.") == "One. Two."
    step = Instruct("instruct")
    rng = random.Random(7)
    subsets = [step.choose_kinds(rng, has_features=True, has_sentence=True) for _ in range(60)]
    assert all(kinds and kinds == sorted(kinds, key=step.params.kinds.index) for kinds in subsets)
    assert {len(kinds) for kinds in subsets} == {1, 2, 3, 4}
    fixed = Instruct("instruct", random_subset=False)
    assert fixed.choose_kinds(rng, has_features=False, has_sentence=True) == [
        "words",
        "sentence",
        "summary",
    ]


def test_bad_parameters_are_rejected_with_their_yaml_path(tmp_path):
    partial = tmp_path / "words.json"
    partial.write_text('{"nouns": ["dog"], "adjectives": ["red"]}')
    with pytest.raises(ValidationError, match="no verbs in"):
        Generate("stories", vocabulary=str(partial))
    bad = run_cli(
        "run", "tinystories", "--set", "steps[0].params.features=[telepathy]", cwd=tmp_path
    )
    assert bad.returncode == 2 and "steps[0].params.features" in bad.stderr
    missing = run_cli(
        "run", "tinystories", "--set", "steps[0].params.vocabulary=nowhere.json", cwd=tmp_path
    )
    assert missing.returncode == 2 and "steps[0].params.vocabulary" in missing.stderr


def test_tinystories_recipe_on_the_embedded_model_and_warm_rerun(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "tinystories",
        "--set",
        "steps[0].params.num_stories=2",
        "--set",
        "steps[0].params.max_tokens=40",
        "--set",
        "steps[1].params.max_tokens=24",
        "--set",
        "steps[1].params.random_subset=false",
    )
    assert len(records) == 2
    vocabulary = load_vocabulary()
    for record in records:
        assert record["story"] and set(record["words"]) == {"verb", "noun", "adjective"}
        assert record["words"]["noun"] in vocabulary["nouns"]
        assert set(record["words_present"]) == set(record["words"].values())
        assert record["all_words_present"] == all(record["words_present"].values())
        assert set(record["features"]) <= set(FEATURES)
        assert record["instruction"].startswith("Words: " + ", ".join(record["words"].values()))
        assert record["summary"] and f"Summary: {record['summary']}" in record["instruction"]
        assert record["sentence"] is None or record["sentence"] in " ".join(record["story"].split())
        assert record["text"] == f"{record['instruction']}\nStory: {record['story']}"
        meta = record["_meta"]
        assert meta["method"] == "tinystories.instruct" and len(meta["parents"]) == 1
        assert meta["model"].startswith("local:") and len(meta["request"]) == 1
