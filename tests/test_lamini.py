"""LaMini-LM: the prompt and parsing rules, and a small run of the recipe on the embedded
model through the real CLI, checked against the method's rules on the records it made."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import read_jsonl, resume_after_kill, run_recipe_twice, summary_of

from synthaug.methods.common.lists import read_list
from synthaug.methods.instruct import lamini
from synthaug.methods.instruct.self_instruct import load_seed_tasks

EXAMPLES = ["Write a haiku about rain.", "How do vaccines work?", "Sort these numbers: 3, 1, 2."]


def test_prompt_shows_k_examples_and_asks_for_twenty():
    prompt = lamini.instruction_prompt(EXAMPLES, [])
    assert prompt.count("<example>") == 3 + 1  # the three examples, and the label asked for
    assert all(f"<example>{e}</example>" in prompt for e in EXAMPLES)
    assert "Write 20 varied examples" in prompt and "topics" not in prompt
    assert prompt.index(EXAMPLES[-1]) < prompt.index("Write 20")  # examples first, as the paper
    topical = lamini.instruction_prompt(EXAMPLES, ["Tea", "Chess", "Jazz"])
    assert 'on the topics "Tea, Chess, Jazz"' in topical
    raw = lamini.instruction_prompt(EXAMPLES, ["Tea", "Chess", "Jazz"], 20, "completion")
    assert raw.endswith("<example>") and raw.index("Write 20") < raw.index(EXAMPLES[0])


def test_labelled_examples_are_parsed_and_a_cut_last_item_is_left_out():
    reply = "<example>Name a river.</example>\n<example> Plan a  picnic.</example><example>Why"
    assert lamini.parse_examples(reply) == ["Name a river.", "Plan a picnic.", "Why"]
    assert lamini.parse_examples(reply, cut=True) == ["Name a river.", "Plan a picnic."]
    assert lamini.parse_examples("1. Name a river.\n2. Plan a picnic.") == []
    assert lamini.parse_examples("<example>A.\n\nchatter after a blank line") == ["A."]


def test_bad_topic_list_is_one_clear_error(tmp_path):
    (tmp_path / "topics.txt").write_text("Tea\n", encoding="utf-8")
    with pytest.raises(Exception, match="1 topics; a prompt names 3"):
        lamini.Generate(topics_path=str(tmp_path / "topics.txt"))


ARGS = [
    "lamini",
    *("--set", "backend.parallel=4"),
    *("--set", "steps[0].params.num_instructions=3"),
    *("--set", "steps[0].params.max_requests=4"),
    *("--set", "steps[0].params.max_tokens=48"),
    *("--set", "steps[1].params.max_tokens=24"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The small run, then a rerun that makes no model call and gives the same records."""
    folder = tmp_path_factory.mktemp("lamini")
    run_recipe_twice(folder, *ARGS)
    return folder / "data.jsonl"


def test_every_request_is_guided_by_three_seed_examples_and_topics_in_turn(run):
    records = read_jsonl(run)
    errors = (
        read_jsonl(run.with_name("data.errors.jsonl"))
        if run.with_name("data.errors.jsonl").exists()
        else []
    )
    generation = [e for e in errors if e["_meta"]["step"] == "instructions"]
    assert records, "no labelled instruction came back: the guidance would go unchecked"
    pool = {str(t["instruction"]).strip() for t in load_seed_tasks(None)}
    topics = set(read_list(None, lamini.TOPICS))
    for record in records:
        assert record["lamini_guidance"] == ("example", "topic")[record["request_idx"] % 2]
        shown = record["lamini_examples"]
        assert len(shown) == 3 and set(shown) <= pool
        if record["lamini_guidance"] == "topic":
            assert len(record["lamini_topics"]) == 3 and set(record["lamini_topics"]) <= topics
        else:
            assert record["lamini_topics"] == []
        assert lamini.key(record["instruction"]) not in set(map(lamini.key, shown))
        assert lamini.key(record["instruction"]) not in set(map(lamini.key, pool))
        assert record["response"].strip()
        assert record["_meta"]["method"] == "lamini.respond"
    keys = [lamini.key(r["instruction"]) for r in records]
    assert len(keys) == len(set(keys))
    for error in generation:  # a reply without a labelled example is dropped, counted
        if error["_meta"]["error"]["kind"] == "no_examples":
            assert lamini.parse_examples(error["generation"], cut=True) == []
    summary = summary_of(run)["steps"][0]
    assert summary["rows_out"] >= len(records)


def test_generation_and_responses_resume_after_kill_without_repeating_calls(tmp_path):
    """One slot, one thread; killed after the first generation request and resumed
    (``resume_after_kill``): no request is paid twice, the instructions come back the same."""
    one_slot = ("backend.threads=1", "backend.deterministic=true", "backend.parallel=1")
    args = [*ARGS, *(x for setting in one_slot for x in ("--set", setting))]
    records, summary, _ = resume_after_kill(tmp_path, *args, after_calls=1)
    keys = [lamini.key(r["instruction"]) for r in records]
    assert len(keys) == len(set(keys)) and all(r["response"].strip() for r in records)
    assert summary["steps"][0]["rows_out"] >= len(records)
