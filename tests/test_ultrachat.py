"""UltraChat: list parsing and turn cleaning on recorded outputs, the sectors and dialogue
loop on the embedded model, and resume after kill -9."""

from __future__ import annotations

from conftest import (
    resume_after_kill,
    run_cli,
    run_recipe_twice,
)

from synthaug.methods.instruct.ultrachat import (
    MATERIAL_LAYOUTS,
    META_TOPICS,
    WRITING_TYPES,
    clean_user_turn,
    list_schema,
    material_opener,
    parse_list,
    seed_task_passages,
)

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


def test_three_sectors_and_dialogues_on_the_embedded_model(tmp_path):
    # one round each here (the simulated user is exercised by the resume test below)
    rounds = "steps[1].params.rounds={world: [1, 1], writing: [1, 1], materials: [1, 1]}"
    records = run_recipe_twice(tmp_path, "ultrachat", *SMALL, "--set", rounds)
    by_sector = {r["ultrachat_sector"]: r for r in records}
    assert set(by_sector) <= {"world", "writing", "materials"} and by_sector
    for record in records:
        roles = [m["role"] for m in record["messages"]]
        assert roles == ["user", "assistant"] * record["turns"]
        assert record["messages"][0]["content"] == record["opener"]
        assert all(m["content"].strip() for m in record["messages"])
        meta = record["_meta"]
        assert meta["method"] == "ultrachat.dialogue" and len(meta["parents"]) == 1
        assert len(meta["request"]) == 2 * record["turns"] - 1
        assert meta["model"].startswith("local:") and meta["user_model"] == meta["model"]
    if world := by_sector.get("world"):
        assert world["turns"] == 1 and world["ultrachat_topic"] in META_TOPICS
        assert world["ultrachat_subtopic"]
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
    records, summary, paid_before_kill = resume_after_kill(tmp_path, *KILL_ARGS, after_calls=4)
    assert summary["llm"]["cache_hits"] >= paid_before_kill
    assert len(records) == 1
    for record in records:
        assert record["turns"] == 3 and len(record["messages"]) == 6
