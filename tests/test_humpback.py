"""Instruction backtranslation (Humpback) on the embedded model."""

from __future__ import annotations

import asyncio
from statistics import mean

import pytest
from conftest import read_jsonl, run_cli, run_recipe_twice, summary_of

from synthaug.engine.step import RowError, StepContext
from synthaug.llm.client import LLMClient
from synthaug.methods.instruct.backtranslation import (
    AUGMENTED_TAG,
    SEED_TAG,
    Augment,
    AugmentParams,
    Demonstration,
    TagSeed,
    backward_turns,
    draw_demonstrations,
    parse_curation,
    seed_pairs,
)
from synthaug.methods.instruct.seeds import seed_fields
from synthaug.methods.instruct.self_instruct import load_seed_tasks
from synthaug.quality.rouge import rouge_l

# Curation replies recorded from SmolLM2-135M-Instruct (Q4_1) under CURATION_SCHEMA on the
# humpback recipe's first pairs; the schema lets it put newlines around keys and colons.
RECORDED_CURATIONS = [
    ('{\n  "explanation": "1. Lose weight","score": 5}', 5, "1. Lose weight"),
    (
        '{\n\n"explanation"\n\n:\n\n"explanatio", "score"\n\n:\n\n1\n\n}',
        1,
        "explanatio",
    ),
    (
        '{\n  "explanation": "This is a classic example of a character development essay. The '
        "writer has explored the idea of stereotypes and how they can be limiting, but also has "
        'a personal journey to share. The writer has also,","score" : 5\n}',
        5,
        "This is a classic example of a character development essay. The writer has explored "
        "the idea of stereotypes and how they can be limiting, but also has a personal journey "
        "to share. The writer has also,",
    ),
]
# Recorded from SmolLM2-135M with max_tokens=24: cut off inside the reason, before the score.
RECORDED_TRUNCATED = (
    '{\n  "explanation": "The answer is not complete, vague, off-topic or controversial,'
)
# Instructions SmolLM2-135M predicted for the first Self-Instruct seed answers (recipe prompt,
# greedy), beside each seed's real instruction.
RECORDED_PREDICTIONS = [
    (
        "I'm sorry for the confusion. You're right, I'll make sure to provide the correct "
        "information. Here's the corrected text:",
        "Is there anything I can eat for a breakfast that doesn't include eggs, yet includes "
        "protein, and has roughly 700-1000 calories?",
    ),
    (
        "What does that mean?",
        "What is the relation between the given pairs?\nNight : Day :: Right : Left",
    ),
    (
        'What is the name of the person who wrote the book "The Hunger Games" and who is the '
        "main character in the story?",
        "Generate a one-sentence description for each of the following people.\n- Brack Obama"
        "\n- Elon Musk\n- Taylor Swift",
    ),
    (
        "What is the CVPR 2023 workshop?",
        "Generate an appropriate subjective title for the following email:\nHi [person name],"
        "\n\nI'm writing to ask you if you are happy to be a panelist of our workshop on "
        "multimodality at CVPR. The workshop will be held on June 20, 2023. \n\nBest,\n[my name]",
    ),
    (
        "What's the best way to practice gratitude while driving?",
        "How do you answer this question in a job interview?\nWhat do you think about when you "
        "are alone in a car?",
    ),
    (
        "What's the most impactful goal you've achieved?",
        "Brainstorm a list of possible New Year's resolutions.",
    ),
    (
        "What is the meaning of being the black sheep of the family?",
        "Explain the following idiom to me, and try to give me some examples.\nblack sheep",
    ),
]


@pytest.mark.parametrize(("reply", "score", "reason"), RECORDED_CURATIONS)
def test_parse_curation_on_recorded_replies(reply, score, reason):
    assert parse_curation(reply) == (score, reason)


def test_unusable_curation_replies_are_row_errors():
    with pytest.raises(RowError) as cut:
        parse_curation(RECORDED_TRUNCATED)
    assert cut.value.kind == "parse_error"
    # an endpoint that ignores the schema (hand-written, not recorded)
    with pytest.raises(RowError) as fraction:
        parse_curation('{"explanation": "fine", "score": 4.5}')
    assert fraction.value.kind == "bad_score"
    with pytest.raises(RowError, match="not an integer from 1 to 5"):
        parse_curation('{"explanation": "fine", "score": 0}')


def test_predicted_instructions_are_closer_to_their_own_real_instruction():
    """The honest quality signal: ROUGE-L against the real instruction beats a mismatched one."""
    matched = [rouge_l(pred, real) for pred, real in RECORDED_PREDICTIONS]
    mismatched = [
        rouge_l(pred, real)
        for i, (pred, _) in enumerate(RECORDED_PREDICTIONS)
        for j, (_, real) in enumerate(RECORDED_PREDICTIONS)
        if i != j
    ]
    assert mean(matched) > mean(mismatched)
    assert max(matched) == rouge_l(*RECORDED_PREDICTIONS[-1]) > 0.2  # "black sheep"


def test_backward_prompt_shows_demonstrations_as_earlier_turns():
    demos = [Demonstration(output="42", instruction="What is 6 x 7?")]
    turns = backward_turns(demos, "Blue whales are the largest animals.")
    assert [role for role, _ in turns] == ["system", "user", "assistant", "user"]
    assert turns[1][1] == "Text: 42" and turns[2][1] == "What is 6 x 7?"
    assert turns[-1][1] == "Text: Blue whales are the largest animals."
    assert "one line" not in turns[0][1]  # an instruction may span lines


def test_demonstrations_are_seed_pairs_drawn_per_text_never_its_own():
    pool = seed_pairs(None)  # the 175 Self-Instruct tasks: instruction (+ input) -> output
    assert len(pool) >= 150 and sum("\n" in pair.instruction for pair in pool) >= 20
    own = seed_fields(load_seed_tasks(None)[2])
    text, reference = own["output"], own["instruction"]
    assert any(pair.output == text for pair in pool)
    draws = [draw_demonstrations(pool, 3, seed, text, reference) for seed in range(60)]
    assert all(len(drawn) == 3 and all(pair in pool for pair in drawn) for drawn in draws)
    assert not any(
        pair.output == text or pair.instruction == reference for d in draws for pair in d
    )
    assert draws[0] == draw_demonstrations(pool, 3, 0, text, reference)  # seeded per text
    assert len({tuple(pair.instruction for pair in drawn) for drawn in draws}) > 50
    assert AugmentParams().demonstrations == 3 and AugmentParams().seed_path is None


def test_predicted_instruction_keeps_every_line_on_the_embedded_model(local_backend):
    """Seed task 2 (an ethics classification with an input) as unlabelled text: the
    embedded model, shown three drawn seed pairs, writes its instruction over two lines."""
    fields = seed_fields(load_seed_tasks(None)[2])
    row = {**fields, "_meta": {"id": "s2"}}
    step = Augment(reference_column="instruction", max_tokens=160)
    ctx = StepContext(llm=LLMClient(local_backend, None), run_seed=0, step_name="augment")
    [record] = asyncio.run(step.process(row, ctx))
    lines = record["instruction"].splitlines()
    assert len(lines) >= 2 and all(line.strip() for line in lines)
    assert record["messages"][1]["content"] == record["instruction"]
    # a reply cut off by max_tokens is an error row, not a truncated instruction
    with pytest.raises(RowError) as cut:
        asyncio.run(Augment(reference_column="instruction", max_tokens=8).process(row, ctx))
    assert cut.value.kind == "instruction_cut_off"


def test_seed_pairs_get_the_assistant_style_tag():
    step = TagSeed()
    row = {"instruction": "Name a colour.", "output": "Blue.", "_meta": {"id": "s0"}}
    ctx = StepContext(llm=None, run_seed=0, step_name="tag")
    [tagged] = asyncio.run(step.process(row, ctx))
    assert tagged["humpback_tag"] == SEED_TAG != AUGMENTED_TAG
    assert tagged["messages"] == [
        {"role": "system", "content": SEED_TAG},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
    ]


SMALL = ("--set", "steps[1].params.max_tokens=160", "--set", "steps[2].params.max_tokens=128")


def test_humpback_recipe_augments_curates_and_drops_low_scores(tmp_path):
    flagged = run_recipe_twice(
        tmp_path, "humpback", "--limit", "2", *SMALL, "--set", "steps[2].params.action=flag"
    )
    assert len(flagged) == 2
    for record in flagged:
        assert record["instruction"] and record["output"]
        assert record["instruction"] != record["reference_instruction"]
        assert record["instruction_rouge_l"] == round(
            rouge_l(record["instruction"], record["reference_instruction"]), 4
        )
        assert record["humpback_tag"] == AUGMENTED_TAG and record["iteration"] == 1
        assert record["messages"] == [
            {"role": "system", "content": AUGMENTED_TAG},
            {"role": "user", "content": record["instruction"]},
            {"role": "assistant", "content": record["output"]},
        ]
        assert record["curation_score"] in range(1, 6) and record["curation_reason"]
        assert record["curation_keep"] == (record["curation_score"] >= 5)  # the paper's k
        meta = record["_meta"]
        assert meta["method"] == "humpback.curate" and meta["model"].startswith("local:")
        assert len(meta["parents"]) == 1 and len(meta["request"]) == 1

    # the default action drops pairs below k; the summary counts them (rows in vs out)
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    out = tmp_path / "kept.jsonl"
    args = ("run", "humpback", "--limit", "2", *SMALL, "--out", str(out), "--quiet")
    kept = run_cli(*args, cwd=tmp_path, env=env)
    assert kept.returncode == 0, kept.stderr
    curate = summary_of(out)["steps"][2]
    assert summary_of(out)["llm"]["model_calls"] == 0
    expected = [r for r in flagged if r["curation_keep"]]
    assert curate["rows_in"] == 2 and curate["rows_out"] == len(expected)
    assert [r["instruction"] for r in read_jsonl(out)] == [r["instruction"] for r in expected]

    # a second curation pass over the candidates records its iteration (same rater: cached)
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text((tmp_path / "data.jsonl").read_text())
    second = tmp_path / "second.yaml"
    second.write_text(
        "name: humpback_pass2\nbackend: {type: local}\nsteps:\n"
        f"  - {{method: load, params: {{path: {candidates}}}}}\n"
        "  - {method: humpback.curate, params: {iteration: 2, action: flag, max_tokens: 128}}\n"
    )
    out2 = tmp_path / "second.jsonl"
    rerun = run_cli("run", str(second), "--out", str(out2), "--quiet", cwd=tmp_path, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert summary_of(out2)["llm"]["model_calls"] == 0
    again = read_jsonl(out2)
    assert [r["iteration"] for r in again] == [2, 2]
    assert [r["curation_score"] for r in again] == [r["curation_score"] for r in flagged]
    assert again[0]["_meta"]["parents"] == [flagged[0]["_meta"]["id"]]


def test_bad_threshold_is_a_usage_error(tmp_path):
    bad = run_cli("run", "humpback", "--set", "steps[2].params.threshold=6", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[2].params" in bad.stderr
