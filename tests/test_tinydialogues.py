"""TinyDialogues: the seeded scenarios, the turn parser and checks on recorded and malformed
replies, and the recipe on the embedded model killed with SIGKILL and resumed."""

from __future__ import annotations

import random

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli

from synthaug.engine.step import RowError, StepContext
from synthaug.llm.types import Choice, Completion
from synthaug.methods.dialogue.tinydialogues import (
    AGES,
    CHILD,
    PARTICIPANTS,
    WORD_LENGTHS,
    Generate,
    Sample,
    SampleParams,
    check_dialogue,
    dialogue_grammar,
    dialogue_text,
    draw_scenario,
    parse_turns,
)
from synthaug.records import META

CHECKS = {"format", "unknown_speaker", "child_silent", "too_few_turns", "age_mentioned",
          "too_long"}  # fmt: skip
# Recorded from SmolLM2-135M (Q4_1) under the grammar: age 2, Child + Grandfather + Father,
# a library, disagreement and negotiation (the first three turns).
RECORDED = (
    "**Child**: \"Oh, I'm so glad you came to the library! It's so cool to have a grown-up "
    "like you!\"\n\n**Grandfather**: \"Yay, I'm glad you came to the library! It's so cool to "
    'have a grown-up like you!"\n\n**Father**: "Aw, don\'t forget to bring your favorite book, '
    "it's so exciting to see all your favorite books in the library!\"\n\n"
)
# The shape of a free (unconstrained) reply: a scene description before the header, a
# "Toddler" label, curly quotes.
FREE = "**Setting**: a park.\n\n**DIALOGUE:**\n\n**Toddler**: Ball! Ball!\n\n**Mother**: Yes, that’s your ball.\n\n**Child**: Mine"


def context() -> StepContext:
    return StepContext(llm=None, run_seed=0, step_name="sample")


def scenarios(**params) -> list[dict]:
    return Sample("sample", **params).scenarios(context())


def test_scenarios_are_seeded_drawn_from_the_age_lists_and_ordered_by_age():
    drawn = scenarios(per_age=6)
    assert drawn == scenarios(per_age=6)  # seeded
    assert [s["age"] for s in drawn] == [age for age in AGES for _ in range(6)]  # curriculum
    for s in drawn:
        others = s["participants"][1:]
        assert s["participants"][0] == CHILD and 1 <= len(others) <= 3
        assert len(set(others)) == len(others) and set(others) <= set(PARTICIPANTS[s["age"]])
        assert s["word_length"] in WORD_LENGTHS[s["age"]]
    assert len({len(s["participants"]) for s in drawn}) > 1  # the number of participants varies
    assert (
        len({s["setting"] for s in drawn}) > 3 and len({s["conversation_type"] for s in drawn}) > 3
    )
    descending = scenarios(per_age=6, order="descending")
    assert [s["age"] for s in descending] == sorted((s["age"] for s in drawn), reverse=True)
    shuffled = scenarios(per_age=6, order="random")
    assert sorted(map(str, shuffled)) == sorted(map(str, drawn)) and shuffled != drawn
    one = draw_scenario(5, random.Random(3), SampleParams(max_others=1, settings=["a zoo"]))
    assert len(one["participants"]) == 2 and one["setting"] == "a zoo"


def test_prompt_and_grammar_name_the_sampled_speakers():
    row = {**scenarios(per_age=1)[3], META: {"id": "x"}}
    request = Generate("generate").requests(row, context())[0]
    prompt = request.messages[0]["content"]
    assert f"{row['age']}-year-old child" in prompt and row["setting"] in prompt
    assert row["conversation_type"] in prompt and f"about {row['word_length']} words" in prompt
    assert all(f"**{s}**:" in request.grammar for s in row["participants"])
    assert request.grammar.startswith("root ::= turn turn turn turn turn*")
    assert dialogue_grammar(["Child", "Mother"], 2).count('"**') == 2
    free = Generate("generate", constrain="none").requests(row, context())[0]
    assert free.grammar is None and free.messages == request.messages


def test_turns_of_a_recorded_reply_pass_the_checks():
    turns = parse_turns(RECORDED)
    assert [t["speaker"] for t in turns] == ["Child", "Grandfather", "Father"]
    assert turns[2]["content"].endswith('books in the library!"')
    check_dialogue(turns, ["Child", "Grandfather", "Father"], min_turns=3, max_words=400)
    assert parse_turns(dialogue_text(turns)) == turns
    assert len(parse_turns(RECORDED + "**Child**: I want", truncated=True)) == 3  # cut off


def test_a_free_reply_is_normalised_like_the_released_preprocessing():
    turns = parse_turns(FREE)
    assert turns == [
        {"speaker": "Child", "content": "Ball! Ball!"},
        {"speaker": "Mother", "content": "Yes, that's your ball."},
        {"speaker": "Child", "content": "Mine"},
    ]


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("Once upon a time there was a child.", "format"),
        ("**Child**: Hi!\n\n**Robot**: Beep.\n\n**Mother**: Hello.", "unknown_speaker"),
        ("**Mother**: Hi!\n\n**Mother**: Are you there?\n\n**Mother**: Hello?", "child_silent"),
        ("**Child**: Hi!\n\n**Mother**: Hello.", "too_few_turns"),
        (
            "**Child**: Hi!\n\n**Mother**: You're a big 2-year-old!\n\n**Child**: Yes!",
            "age_mentioned",
        ),
        ("**Child**: " + "la " * 400 + "\n\n**Mother**: Ok.\n\n**Child**: Ok.", "too_long"),
    ],
)
def test_malformed_replies_become_row_errors_naming_the_check(reply, kind):
    row = {"age": 2, "participants": ["Child", "Mother"]}
    step = Generate("generate", min_turns=3)
    with pytest.raises(RowError) as failure:
        step.parse(row, [Completion(choices=[Choice(text=reply, finish_reason="stop")])])
    assert failure.value.kind == kind and kind in CHECKS


def test_listed_and_bad_parameters_are_rejected_with_their_yaml_path(tmp_path):
    listed = run_cli("methods", cwd=tmp_path)
    assert listed.returncode == 0
    assert "tinydialogues.sample" in listed.stdout and "tinydialogues.generate" in listed.stdout
    bad = run_cli("run", "tinydialogues", "--set", "steps[0].params.ages=[3]", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[0].params.ages" in bad.stderr


def test_recipe_on_the_embedded_model_survives_kill_and_resume(tmp_path):
    """Two rows (ages 2 and 15), one slot and one thread (llama.cpp's samples depend on the
    thread count); killed after the first answer and resumed (``resume_after_kill``)."""
    args = ["--set", "steps[0].params.per_age=1", "--set", "steps[0].params.ages=[15,2]",
            "--set", "steps[1].params.max_tokens=96", "--set", "steps[1].params.min_turns=2",
            "--set", "backend.deterministic=true", "--set", "backend.threads=1",
            "--set", "backend.parallel=1"]  # fmt: skip
    records, summary, _ = resume_after_kill(tmp_path, "tinydialogues", *args, after_calls=1)
    failed = (
        read_jsonl(tmp_path / "data.errors.jsonl")
        if (tmp_path / "data.errors.jsonl").exists()
        else []
    )
    assert len(records) + len(failed) == 2
    assert [r["age"] for r in records] == sorted(r["age"] for r in records)  # curriculum order
    for record in records:
        speakers = {t["speaker"] for t in record["turns"]}
        assert speakers <= set(record["participants"]) and CHILD in speakers
        assert len(record["turns"]) >= 2 and record["text"] == dialogue_text(record["turns"])
        assert record["setting"] and record["conversation_type"] and record["word_length"]
        assert record[META]["method"] == "tinydialogues.generate"
        assert record[META]["model"].startswith("local:")
    assert all(f[META]["error"]["kind"] in CHECKS and f[META]["error"]["message"] for f in failed)
    assert summary["llm"]["model_calls"] <= 1
