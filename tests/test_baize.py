"""Baize self-chat: the authors' post-processing on recorded transcripts, and runs on the
embedded model."""

from __future__ import annotations

from conftest import read_jsonl, run_cli, run_recipe_twice, summary_of, write_jsonl

from synthaug.methods.instruct.baize import (
    HEADER,
    as_messages,
    format_input,
    parse_transcript,
)

# recorded from SmolLM2-135M answering the single-transcript prompt (mode transcript,
# max_tokens 300): the tiny model does not keep to the format, so nothing survives
RECORDED_TRANSCRIPTS = [
    "I'm excited to help you with your bread baking craft.\n\n[Human] Okay, that's amazing! "
    "What's the recipe you're looking for?",
    "Lemme fix that. I'm afraid the chat is over. Please tell me what is the best way to "
    "learn Python, or I'll be ready to assist you with anything you need.\n\n(removing the "
    "chat from the transcript)",
]
# mode turns, topic "How do I keep bread fresh?": the transcript as assembled from
# SmolLM2-135M's recorded replies, one per turn (it drifts off topic but keeps the tags)
RECORDED_TURNS = (
    "[Human] I'm looking for a healthy snack.\n[AI] I'm not sure what. Can you suggest "
    "something?\n[Human] I can recommend some. What do you need?\n[AI] I can suggest a few "
    "healthy options.\n[Human]"
)
# the shape the prompt asks for (written for this test): two whole turns, then one cut off
WELL_FORMED = (
    " Sure.\n[Human] How long should dough rise?\n[AI] About an hour, until it doubles.\n"
    "[Human] Does the room temperature matter?\n[AI] Yes: a warm room makes it rise faster.\n"
    "[Human] What about"
)


def test_recorded_single_transcripts_keep_no_turn():
    for text in RECORDED_TRANSCRIPTS:
        assert parse_transcript(text) == []


def test_recorded_turn_by_turn_transcript_keeps_both_turns():
    turns = parse_transcript(RECORDED_TURNS)
    assert turns == [
        ("I'm looking for a healthy snack.", "I'm not sure what. Can you suggest something?"),
        ("I can recommend some. What do you need?", "I can suggest a few healthy options."),
    ]
    assert format_input(turns).count("[|Human|]") == 3  # two turns and the open one


def test_post_processing_keeps_whole_turns_and_drops_the_unfinished_last():
    turns = parse_transcript(WELL_FORMED)
    assert turns == [
        ("How long should dough rise?", "About an hour, until it doubles."),
        ("Does the room temperature matter?", "Yes: a warm room makes it rise faster."),
    ]
    text = format_input(turns)
    assert text.startswith(HEADER + "\n[|Human|] How long should dough rise?\n[|AI|] About")
    assert text.endswith("rise faster.\n[|Human|] ")
    assert [m["role"] for m in as_messages(turns)] == ["user", "assistant"] * 2


def test_post_processing_stops_at_the_first_malformed_turn():
    two_ai_parts = "[Human] Hi?\n[AI] Hello.\n[Human] Why?\n[AI] Because.\n[AI] Also.\n"
    text = two_ai_parts + "[Human] Later?\n[AI] Yes.\n[Human] "
    assert parse_transcript(text) == [("Hi?", "Hello.")]
    no_ai = "[Human] Hi?\n[Human] Anyone?\n[AI] Yes.\n[Human] "
    assert parse_transcript(no_ai) == []


def test_turns_mode_needs_a_turn_limit(tmp_path):
    result = run_cli("run", "baize", "--set", "steps[0].params.max_turns=null", cwd=tmp_path)
    assert result.returncode == 2
    assert "steps[0].params" in result.stderr and "max_turns" in result.stderr


SEEDS = [
    {"question": "How do I keep bread fresh?"},
    {"question": "How do I keep bread fresh?"},  # duplicates are chatted about once
    {"question": "Why is the sky blue?"},
]


def test_self_chat_turn_by_turn_on_the_embedded_model(tmp_path):
    seeds = write_jsonl(tmp_path / "seeds.jsonl", SEEDS)
    records = run_recipe_twice(
        tmp_path,
        "baize",
        "--set",
        f"steps[0].params.path={seeds}",
        "--set",
        "steps[0].params.column=question",
        "--set",
        "steps[0].params.max_turns=2",
        "--set",
        "steps[0].params.turn_max_tokens=40",
        "--set",
        "steps[0].params.requests_in_flight=2",
    )
    summary = summary_of(tmp_path / "data.jsonl")
    failed = summary["steps"][0]["errors"].get("malformed_transcript", 0)
    assert len(records) + failed == 2  # each distinct seed once: a record or a counted failure
    for record in records:
        assert record["topic"] in {s["question"] for s in SEEDS}
        assert record["input"].startswith(HEADER) and record["input"].endswith("[|Human|] ")
        assert 1 <= record["turns"] <= 2 == len(record["messages"]) / record["turns"]
        meta = record["_meta"]
        assert meta["method"] == "baize.self_chat" and meta["model"].startswith("local:")
        assert len(meta["request"]) >= 2 * record["turns"]


def test_token_budget_stops_collection(tmp_path):
    seeds = write_jsonl(tmp_path / "seeds.jsonl", SEEDS)
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    out = tmp_path / "data.jsonl"
    args = ["run", "baize", "--out", str(out), "--quiet"]
    args += ["--set", f"steps[0].params.path={seeds}", "--set", "steps[0].params.column=question"]
    args += ["--set", "steps[0].params.mode=transcript", "--set", "steps[0].params.max_tokens=1"]
    args += ["--set", "steps[0].params.chat_max_tokens=48"]
    args += ["--set", "steps[0].params.requests_in_flight=1"]
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    summary = summary_of(out)
    # one transcript spends more than the 1-token budget: collection stops after it
    assert summary["llm"]["model_calls"] == 1
    assert len(read_jsonl(out)) + summary["error_records"] == 1
