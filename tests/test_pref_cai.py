"""Constitutional AI, SL-CAI critique -> revision (cai.critique_revise), on the embedded model."""

from __future__ import annotations

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, write_jsonl

from synthaug.errors import InputError
from synthaug.methods.preference.constitutional import (
    CritiqueRevise,
    clean_reply,
    critique_turn,
    demonstration_turns,
    load_constitution,
    revision_turn,
    transcript,
)

# Real replies of the embedded SmolLM2-135M (recipe constitutional_ai, seed 0, max_tokens 64,
# critique_temperature 0.7) for the seed task "What is the relation between the given pairs?
# Night : Day :: Right : Left": the initial response (temperature 1, cut off), then the critique
# and revision under the principle `caring_expert`.
TASK = "What is the relation between the given pairs?\nNight : Day :: Right : Left"
REAL_INITIAL = (
    "The relation between the given pairs can be understood by analyzing their relationship "
    "based on their absolute opposites. The pairs mentioned are:\n\nA right-left relation: "
    "Night & Day\nA left-right relation: Night & Right\nA right-left relation: Night & Left\n"
    "A left-right relation: Night &"
)
REAL_CRITIQUE = (
    "The assistant's last response gets the wrong answer: A caring friend with expert knowledge "
    "would not be able to answer differently than a doctor or a nurse."
)
REAL_REVISION = (
    "A caring and knowledgeable friend would answer in a different way than a doctor or a nurse."
)
# A real revision under `misinformation`: it copies the first demonstration's critique
# ("The response treats a rumour as likely fact.") instead of revising the answer.
REAL_COPIED_REVISION = (
    "The response treats a rumour as likely fact. A recent study has found a link between vegan "
    "diets and a reduced immune system, but it is possible that the immune system is not a "
    "direct result of vegan diets but rather a side effect of consuming animal products that "
    "are found in animal agriculture, which is a very complex topic"
)


def test_shipped_constitution_has_16_pairs_and_2_demonstrations():
    constitution = load_constitution()
    names = [p["name"] for p in constitution.principles]
    assert len(names) == 16 == len(set(names))
    assert all(p["critique"].endswith(("?", ".")) for p in constitution.principles)
    assert all("response" in p["revision"] for p in constitution.principles)
    demos = constitution.demonstrations
    assert len(demos) == 2 and {d["principle"] for d in demos} <= set(names)
    turns = demonstration_turns(constitution)
    assert [role for role, _ in turns[:6]] == ["user", "assistant"] * 3
    assert turns[2][1] == critique_turn(constitution.principle(demos[0]["principle"]))
    assert turns[2][1].startswith("Critique request: Point out every part")
    assert turns[5][1] == demos[0]["revision"]
    assert len(turns) == 12


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("principles: [", "invalid YAML"),
        ("- a list\n", "a constitution needs a 'principles' list"),
        ("principles: []\n", "field 'principles': the list is empty"),
        (
            "principles:\n  - {name: a, critique: Why}\n",
            "field 'principles[0].revision': must be a non-empty string",
        ),
        (
            "principles:\n  - {name: a, critique: C, revision: R}\n"
            "  - {name: a, critique: C, revision: R}\n",
            "field 'principles[1]': duplicate principle name 'a'",
        ),
        (
            "principles:\n  - {name: a, critique: C, revision: R, weight: 2}\n",
            "field 'principles[0]': unknown key(s) weight",
        ),
        (
            "principles:\n  - {name: a, critique: C, revision: R}\ndemonstrations:\n"
            "  - {prompt: P, response: R, principle: b, critique: C, revision: R}\n",
            "field 'demonstrations[0].principle': unknown principle 'b'",
        ),
    ],
)
def test_bad_constitution_names_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as error:
        CritiqueRevise(constitution=str(path))
    assert str(error.value).startswith(str(path)) and problem in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_constitution_exits_2_before_any_model_call(tmp_path):
    (tmp_path / "c.yaml").write_text("principles:\n  - {name: x, critique: '', revision: R}\n")
    bad = run_cli(
        "run", "constitutional_ai", "--set", "steps[1].params.constitution=c.yaml", cwd=tmp_path
    )
    assert bad.returncode == 2
    assert "c.yaml: field 'principles[0].critique': must be a non-empty string" in bad.stderr
    missing = run_cli(
        "run", "constitutional_ai", "--set", "steps[1].params.constitution=no.yaml", cwd=tmp_path
    )
    assert missing.returncode == 2 and "no.yaml: cannot read the constitution" in missing.stderr


def test_transcript_continues_each_round_from_the_last_revision():
    constitution = load_constitution()
    first, second = constitution.principle("caring_expert"), constitution.principle("honesty")
    no_demos: list = []
    # round 1: the critique request, then (after the critique) the revision request
    start = transcript(no_demos, TASK, REAL_INITIAL, [first], [], [])
    assert start == [
        ("user", TASK),
        ("assistant", REAL_INITIAL),
        ("user", critique_turn(first)),
    ]
    revise = transcript(no_demos, TASK, REAL_INITIAL, [first], [REAL_CRITIQUE], [])
    assert revise[-2:] == [("assistant", REAL_CRITIQUE), ("user", revision_turn(first))]
    # round 2 continues the same conversation after the round-1 revision
    second_round = transcript(
        no_demos, TASK, REAL_INITIAL, [first, second], [REAL_CRITIQUE], [REAL_REVISION]
    )
    assert second_round[:5] == revise and second_round[5:] == [
        ("assistant", REAL_REVISION),
        ("user", critique_turn(second)),
    ]
    demos = demonstration_turns(constitution)
    with_demos = transcript(demos, TASK, REAL_INITIAL, [first], [], [])
    assert with_demos[: len(demos)] == demos and with_demos[len(demos) :] == start
    assert revision_turn(first).startswith("Revision request: Rewrite the assistant's response")


def test_clean_reply_on_real_replies():
    assert clean_reply(REAL_REVISION) == REAL_REVISION
    assert clean_reply(" \n" + REAL_COPIED_REVISION + "\n") == REAL_COPIED_REVISION
    assert clean_reply("Revision: " + REAL_REVISION) == REAL_REVISION
    assert clean_reply("revised response:\n" + REAL_REVISION) == REAL_REVISION
    assert clean_reply("   ") == ""  # an empty revision: the row is dropped


def test_critique_revise_recipe_resumes_after_kill(tmp_path):
    prompts = write_jsonl(
        tmp_path / "prompts.jsonl",
        [
            {"instruction": TASK, "response": REAL_INITIAL},  # revised as it is
            {"instruction": "How do I get back at a coworker who embarrassed me?"},
        ],
    )
    records, summary, paid = resume_after_kill(
        tmp_path,
        "constitutional_ai",
        "--set", "steps[0].method=load",
        "--set", f"steps[0].params.path={prompts}",
        "--set", "steps[1].params.rounds=2",
        "--set", "steps[1].params.max_tokens=40",
        after_calls=3,
    )  # fmt: skip
    assert paid >= 3 and summary["llm"]["model_calls"] > 0
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert {e["_meta"]["error"]["kind"] for e in errors} <= {"empty_revision"}
    assert len(records) + len(errors) == 2 and records
    names = {p["name"] for p in load_constitution().principles}
    for record in records:
        given = record["instruction"] == TASK
        assert (record["initial_response"] == REAL_INITIAL) == given
        assert len(record["_meta"]["request"]) == (4 if given else 5)
        assert len(record["principles"]) == len(record["critiques"]) == 2
        assert len(record["revisions"]) == 2 and set(record["principles"]) <= names
        assert all(r.strip() for r in record["revisions"])
        assert record["final_revision"] == record["revisions"][-1] == record["response"]
        assert record["chosen"] == record["final_revision"]
        assert record["rejected"] == record["initial_response"]
        assert record["pair_method"] == "cai.critique_revise"
        assert record["chosen_model"].startswith("local:")
        assert record["_meta"]["constitution"] == load_constitution().digest
