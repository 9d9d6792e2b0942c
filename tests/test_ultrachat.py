"""UltraChat: list parsing and turn cleaning on recorded outputs, the sectors and dialogue
loop on the embedded model, and resume after kill -9."""

from __future__ import annotations

import asyncio

import pytest
from conftest import (
    resume_after_kill,
    run_cli,
    run_recipe_twice,
)

from synthaug.engine.step import RowError, StepContext
from synthaug.llm.client import LLMClient
from synthaug.methods.instruct.ultrachat import (
    ENTITIES,
    MATERIAL_LAYOUTS,
    META_TOPICS,
    WRITING_TYPES,
    Openers,
    Postprocess,
    clean_user_turn,
    list_schema,
    material_opener,
    parse_list,
    postprocess_dialogue,
    sampled,
    seed_task_passages,
    strip_politeness,
)
from synthaug.records import META

# recorded from SmolLM2-135M under list_schema(2): sub-topic lists for two meta-topics
SUBTOPICS = '{"items":[\n  "Technology",\n  "The World"\n]}'
REPEATED = '{\n  "items": [\n    "politics and government",\n    "politics and government"\n  ]\n}'
# recorded from SmolLM2-135M, then cut where max_tokens would have stopped it
CUT_OFF = '{\n  "items": [\n    "The world is filled with endless opportunities. Every'


def test_parse_list_on_recorded_replies():
    assert parse_list(SUBTOPICS) == ["Technology", "The World"]
    assert parse_list(REPEATED) == ["politics and government"]  # duplicates once
    assert parse_list(CUT_OFF) is None
    assert parse_list('{"items": ["", "  "]}') is None
    schema = list_schema(3)["properties"]["items"]
    assert schema["minItems"] == 3 == schema["maxItems"]


def test_built_in_lists_have_the_paper_sizes():
    assert len(set(META_TOPICS)) == 30 and len(set(WRITING_TYPES)) == 20
    assert len(set(ENTITIES)) == 30  # stand-ins for the 10,000 Wikidata entities
    passages = seed_task_passages()
    assert len(passages) >= 20 and all(len(p) >= 200 for p in passages)


def test_material_openers_join_passage_and_instruction():
    layouts = {material_opener("PASSAGE", "Summarise it.", n) for n in range(MATERIAL_LAYOUTS)}
    assert len(layouts) == MATERIAL_LAYOUTS
    assert all("PASSAGE" in text and "Summarise it." in text for text in layouts)


USER_TURNS = {
    # recorded from SmolLM2-135M playing the user (ultrachat_user.j2) after the opener
    # "How do plants make food?": the tiny model labels, and repeats, the question
    "User: How do plants make food?": "How do plants make food?",
    # written for this test: a bold label and quotes
    '**User:** "Can you give me an example?"': "Can you give me an example?",
}


def test_clean_user_turn_on_recorded_replies():
    for raw, clean in USER_TURNS.items():
        assert clean_user_turn(raw) == clean
    assert clean_user_turn("   ") == ""


def test_entity_questions_are_sampled_at_the_papers_rates():
    # 200K of 500K specific and 250K of 1M general questions: 0.4 and 0.25
    for fraction in (0.4, 0.25):
        kept = sum(sampled(seed, fraction) for seed in range(20_000)) / 20_000
        assert abs(kept - fraction) < 0.01
    assert not any(sampled(seed, 0.0) for seed in range(100))
    params = Openers().params
    assert (params.meta_questions_per_entity, params.specific_per_meta) == (5, 10)
    assert (params.general_per_meta, params.related_per_question) == (20, 10)
    assert (params.specific_fraction, params.general_fraction) == (0.4, 0.25)
    assert "entities" in params.sectors


def test_world_and_entity_questions_expand_on_the_embedded_model(local_backend):
    """World: each question is followed by its related questions; entities: meta-questions,
    then specific and general questions written for each (all kept here: fractions 1)."""
    step = Openers(
        sectors=["world", "entities"],
        num_openers=4,
        subtopics_per_topic=1,
        questions_per_subtopic=2,
        related_per_question=2,
        meta_questions_per_entity=2,
        specific_per_meta=1,
        general_per_meta=1,
        specific_fraction=1.0,
        general_fraction=1.0,
        requests_in_flight=2,
        max_tokens=160,
    )
    ctx = StepContext(llm=LLMClient(local_backend, None), run_seed=0, step_name="openers")

    async def collect():
        return [row async for row in step.rows(ctx)]

    rows = [r for r in asyncio.run(collect()) if not r[META].get("error")]
    world = [r for r in rows if r["ultrachat_sector"] == "world"]
    entities = [r for r in rows if r["ultrachat_sector"] == "entities"]
    assert world and entities
    seen: dict[str, dict] = {}
    for row in world:
        kind, parent = row["ultrachat_question_kind"], row["ultrachat_parent_question"]
        if kind == "question":
            assert parent is None and len(row[META]["request"]) == 2
        else:  # a related question comes after its question and names it
            assert kind == "related" and parent in seen and row["opener"] != parent
            assert seen[parent]["ultrachat_subtopic"] == row["ultrachat_subtopic"]
            assert len(row[META]["request"]) == 3
        seen.setdefault(row["opener"], row)
    assert {r["ultrachat_question_kind"] for r in world} == {"question", "related"}
    metas = {r["opener"] for r in entities if r["ultrachat_question_kind"] == "meta"}
    assert metas and all(r["ultrachat_topic"] in ENTITIES for r in entities)
    for row in entities:
        if row["ultrachat_question_kind"] != "meta":
            assert row["ultrachat_question_kind"] in ("specific", "general")
            assert row["ultrachat_parent_question"] in metas


# Dialogues for the post-processing: the first user turns of the README's example, and
# simulated user turns of the kinds the paper describes (role confusion, politeness).
OPENER = "How can cross training benefit groups like runners, swimmers, or weightlifters?"
ANSWER = "Cross training can benefit groups like runners, swimmers, or weightlifters in ..."
FOLLOW_UP = (
    "That makes sense. I've been wanting to improve my running time, but I never thought "
    "about incorporating strength training. Do you have any recommendations for specific "
    "exercises?"
)


def _dialogue(*turns: str) -> list[dict[str, str]]:
    roles = ["user", "assistant"] * len(turns)
    return [{"role": r, "content": t} for r, t in zip(roles, turns, strict=False)]


def test_polite_statements_are_removed_from_user_turns():
    assert strip_politeness(FOLLOW_UP) == FOLLOW_UP  # an acknowledgement, not courtesy
    polite = "Thank you so much for the detailed explanation! That's really helpful. " + (
        "Which exercise should I start with?"
    )
    assert strip_politeness(polite) == "Which exercise should I start with?"
    assert strip_politeness("Thanks a lot, that was really helpful!") == ""
    keeps = "Thanks for the tips, I will try making a smoothie tomorrow."
    assert strip_politeness(keeps) == keeps  # the sentence says more than thanks
    assert strip_politeness("Wow, thanks! Can you thank my team for me?") == (
        "Can you thank my team for me?"
    )
    for user_turn in (  # reactions and requests, not courtesy
        "That's interesting. How does that work for swimmers?",
        "That's great to know but I still want to learn more about squats.",
        "I appreciate the list, now write the introduction.",
    ):
        assert strip_politeness(user_turn) == user_turn
    messages = _dialogue(
        OPENER, ANSWER, polite, "You're welcome! Start with squats.", "Great.", "Glad to help!"
    )
    kept, notes = postprocess_dialogue(messages)
    assert kept[2:] == [
        {"role": "user", "content": "Which exercise should I start with?"},
        {"role": "assistant", "content": "Start with squats."},
    ]  # the answer's "You're welcome" goes with the thanks; a courtesy-only turn ends it
    assert notes == [
        "round 2: polite statements removed",
        "round 3: only courtesy, dialogue ended before it",
    ]
    unchanged, none = postprocess_dialogue(messages, polite=False)
    assert unchanged == messages and none == []


@pytest.mark.parametrize(
    ("user", "problem"),
    [
        ("As an AI language model, I would suggest lunges and squats.", "assistant_voice"),
        ("Sure, here are some exercises you can try: 1. Squats 2. Lunges", "assistant_voice"),
        ("Certainly! Strength training improves running economy.", "assistant_voice"),
        # recorded from SmolLM2-135M playing the user: it repeats the opening question
        (OPENER, "repeated_question"),
        (ANSWER.rstrip(". "), "copied_answer"),
    ],
)
def test_a_user_turn_in_the_assistants_role_ends_the_dialogue(user, problem):
    messages = _dialogue(OPENER, ANSWER, FOLLOW_UP, "Try squats.", user, "...", "And?", "...")
    kept, notes = postprocess_dialogue(messages)
    assert kept == messages[:4] and notes == [f"round 3: {problem}, dialogue ended before it"]


def test_user_turns_that_only_sound_like_an_assistant_stay():
    for user_turn in ("Here is my draft: Dear team, ...", "I'm sorry, but I don't follow."):
        messages = _dialogue(OPENER, ANSWER, user_turn, "Thanks for sharing it.")
        assert postprocess_dialogue(messages) == (messages, [])


def test_postprocess_step_counts_rounds_and_drops_short_dialogues():
    row = {
        "messages": _dialogue(OPENER, ANSWER, "Thanks!", "You're welcome."),
        "turns": 2,
        "_meta": {"id": "d1"},
    }
    ctx = StepContext(llm=None, run_seed=0, step_name="postprocess")
    [out] = asyncio.run(Postprocess().process(row, ctx))
    assert out["turns"] == 1 and out["ultrachat_rounds_generated"] == 2
    assert out["messages"] == row["messages"][:2] and out["_meta"] == row["_meta"]
    with pytest.raises(RowError) as short:
        asyncio.run(Postprocess(min_rounds=2).process(row, ctx))
    assert short.value.kind == "too_few_rounds"


def test_bad_rounds_are_a_recipe_error(tmp_path):
    result = run_cli(
        "run", "ultrachat", "--set", "steps[1].params.rounds={world: [4, 2]}", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "steps[1].params.rounds" in result.stderr and "[4, 2]" in result.stderr


SMALL = [
    "--set",
    "steps[0].params.num_openers=1",
    "--set",
    "steps[0].params.subtopics_per_topic=1",
    "--set",
    "steps[0].params.questions_per_subtopic=1",
    "--set",
    "steps[0].params.related_per_question=1",
    "--set",
    "steps[0].params.meta_questions_per_entity=1",
    "--set",
    "steps[0].params.specific_per_meta=1",
    "--set",
    "steps[0].params.general_per_meta=1",
    "--set",
    "steps[0].params.instructions_per_type=1",
    "--set",
    "steps[0].params.questions_per_passage=1",
    "--set",
    "steps[0].params.requests_in_flight=1",
    "--set",
    "steps[0].params.max_tokens=96",
    "--set",
    "steps[1].params.max_tokens=40",
    "--set",
    "steps[1].params.user_max_tokens=32",
]


def test_four_sectors_and_dialogues_on_the_embedded_model(tmp_path):
    # one round each here (the simulated user is exercised by the resume test below)
    rounds = (
        "steps[1].params.rounds={world: [1, 1], entities: [1, 1], writing: [1, 1], "
        "materials: [1, 1]}"
    )
    records = run_recipe_twice(tmp_path, "ultrachat", *SMALL, "--set", rounds)
    by_sector = {r["ultrachat_sector"]: r for r in records}
    assert set(by_sector) <= {"world", "entities", "writing", "materials"} and by_sector
    for record in records:
        roles = [m["role"] for m in record["messages"]]
        assert roles == ["user", "assistant"] * record["turns"]
        assert record["messages"][0]["content"] == record["opener"]
        assert all(m["content"].strip() for m in record["messages"])
        assert record["ultrachat_rounds_generated"] == record["turns"] == 1
        assert record["ultrachat_postprocess"] == []
        meta = record["_meta"]
        assert meta["method"] == "ultrachat.dialogue" and len(meta["parents"]) == 1
        assert len(meta["request"]) == 2 * record["ultrachat_rounds_generated"] - 1
        assert meta["model"].startswith("local:") and meta["user_model"] == meta["model"]
    if world := by_sector.get("world"):
        assert world["turns"] == 1 and world["ultrachat_topic"] in META_TOPICS
        assert world["ultrachat_subtopic"] and world["ultrachat_question_kind"] == "question"
    if entity := by_sector.get("entities"):
        assert entity["ultrachat_topic"] in ENTITIES
        assert entity["ultrachat_question_kind"] == "meta"
    if materials := by_sector.get("materials"):
        assert materials["ultrachat_material"] in materials["opener"]


KILL_ARGS = [
    "ultrachat",
    *SMALL,
    "--set",
    "steps[0].params.sectors=[world]",
    "--set",
    "steps[1].params.rounds={world: [3, 3]}",
]


def test_dialogue_turns_resume_after_kill_without_repeating_calls(tmp_path):
    records, _, _ = resume_after_kill(tmp_path, *KILL_ARGS, after_calls=4)
    assert len(records) == 1
    for record in records:
        assert record["ultrachat_rounds_generated"] == 3  # then post-processed
        assert 1 <= record["turns"] <= 3 and len(record["messages"]) == 2 * record["turns"]
        assert len(record["ultrachat_postprocess"]) <= 3
