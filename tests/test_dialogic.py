"""DIALOGIC: example selection by goal similarity, the belief-state text format, the automatic
revision, turn-by-turn simulation conditioned on the revised turns, and the recipe end to end
on the embedded model (killed and resumed) with ``synthaug verify``."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli

from synthaug.engine.step import RowError, StepContext
from synthaug.methods.dialogue.dialogic import (
    Simulate,
    example_text,
    mentions,
    parse_state,
    revise,
    select_examples,
    similarity,
    state_text,
    turn_states,
)
from synthaug.methods.dialogue.ontology import load_examples, load_ontology
from synthaug.records import META

ONTOLOGY = load_ontology()
SEEDS = load_examples()
GOAL = {"restaurant": {"inform": {"food": "italian", "area": "centre", "book people": "2"},
                       "request": ["phone"]}}  # fmt: skip


def test_similar_seed_dialogues_are_chosen_more_often():
    restaurant = {"restaurant": {"inform": {"food": "indian", "area": "north"}, "request": []}}
    assert similarity(restaurant, restaurant) == 1.0
    assert similarity(restaurant, {"taxi": {"inform": {"leaveat": "x"}, "request": []}}) == 0.0
    assert similarity(restaurant, GOAL) == pytest.approx(1 * 2 / 3)
    firsts = Counter(
        next(iter(select_examples(SEEDS, GOAL, 1, 0.2, random.Random(i))[0]["goal"]))
        for i in range(300)
    )
    assert firsts["restaurant"] > 200 and sum(firsts.values()) == 300
    two = select_examples(SEEDS, GOAL, 2, 0.2, random.Random(0))
    assert len(two) == 2 and two[0] is not two[1]
    assert len(select_examples(SEEDS, GOAL, 9, 1.0, random.Random(0))) == len(SEEDS)


def test_belief_state_text_and_turn_states():
    state = {"restaurant": {"food": "italian", "book people": "2"}, "taxi": {"leaveat": "09:30"}}
    text = state_text(state)
    assert text == "[restaurant] food is italian , book people is 2 [taxi] leaveat is 09:30"
    assert parse_state(text) == state
    assert parse_state("[general]") == {"general": {}} and parse_state("hello") == {}
    news = turn_states(SEEDS[0]["turns"])
    assert news[0] == {"restaurant": {"food": "indian", "area": "north"}}
    assert news[1] == {"restaurant": {"book people": "2", "book day": "friday"}}
    assert news[2] == {"restaurant": {}}
    shown = example_text(SEEDS[0]).splitlines()
    assert shown[0].startswith("Goal: [restaurant] food is indian")
    assert shown[1].startswith("You require([restaurant] food is indian , area is north): Hi")
    assert shown[2].startswith("Assistant: ") and shown[5].startswith("You require([general]):")


def test_mentions_respect_words_aliases_and_numbers():
    aliases = ONTOLOGY.aliases
    assert mentions("A table for two, please.", "2", aliases)
    assert mentions("Somewhere in the city center?", "centre", aliases)
    assert not mentions("I want 12 seats", "2", aliases)
    assert not mentions("northern food", "north", aliases)


def test_revision_drops_replaces_and_adds():
    generated = {"restaurant": {"food": "chinese", "area": "centre", "colour": "red",
                                "pricerange": "cheap"}, "spa": {"area": "north"}}  # fmt: skip
    utterance = "I'd like Italian food in the centre, for two people."
    revised, log = revise(generated, utterance, GOAL, ONTOLOGY)
    assert revised == {"restaurant": {"food": "italian", "area": "centre", "book people": "2"}}
    assert log == {
        "dropped": ["restaurant.colour=red (not an ontology slot)",
                    "restaurant.pricerange=cheap (not in the utterance)",
                    "spa.area=north (not an ontology slot)"],
        "replaced": ["restaurant.food=chinese -> italian"],
        "added": ["restaurant.book people=2"],
    }  # fmt: skip
    revised, log = revise({"restaurant": {"food": "thai"}}, "Thai food?", GOAL, ONTOLOGY)
    assert revised == {} and log["dropped"] == ["restaurant.food=thai (disagrees with the goal)"]


def scripted(replies: list[str]):
    """A client answering requests in order with ``replies`` (recording the prompts)."""
    prompts: list[str] = []

    async def complete(request):
        prompts.append(request.prompt)
        return SimpleNamespace(text=replies[len(prompts) - 1])

    client = SimpleNamespace(complete=complete, key=lambda request: str(len(prompts)),
                             backend=SimpleNamespace(describe=lambda: "m"))  # fmt: skip
    return client, prompts


def record() -> dict:
    return {"goal": GOAL, META: {"id": "row-1", "parents": [], "step": "t", "method": "t"}}


def test_simulation_continues_from_the_revised_turns():
    client, prompts = scripted([
        "[restaurant] food is chinese , area is centre): Italian food in the centre please.",
        "Pasta Roma is in the centre.",
        "[restaurant] book people is 2 [general]): Book it for two. Bye!",
        "Booked. Goodbye!",
    ])  # fmt: skip
    ctx = StepContext(llm=client, run_seed=0, step_name="t")
    (made,) = asyncio.run(Simulate(shots=1).process(record(), ctx))
    turns = made["dialogue"]
    assert [t["speaker"] for t in turns] == ["user", "system", "user", "system"]
    assert turns[0]["revision"]["replaced"] == ["restaurant.food=chinese -> italian"]
    assert turns[-1]["belief_state"] == {"restaurant": {"food": "italian", "area": "centre",
                                                        "book people": "2"}}  # fmt: skip
    assert (
        prompts[0].endswith("\nYou require(") and "Goal: [restaurant] food is italian" in prompts[0]
    )
    assert ("You require([restaurant] food is italian , area is centre): Italian food in the "
            "centre please.\nAssistant:") in prompts[1]  # fmt: skip
    assert len(prompts) == 4  # the goodbye after every goal domain ends the dialogue
    assert made["examples"] and all(isinstance(g, dict) for g in made["examples"])


def test_a_dialogue_without_a_user_turn_is_a_row_error():
    client, _ = scripted(["no state here", "still none", "none"])
    ctx = StepContext(llm=client, run_seed=0, step_name="t")
    with pytest.raises(RowError) as raised:
        asyncio.run(Simulate(shots=1, max_repeat=3).process(record(), ctx))
    assert raised.value.kind == "malformed_turn" and "in 3 tries; last: 'none'" in str(raised.value)


@pytest.fixture(scope="module")
def dialogic_run(tmp_path_factory) -> SimpleNamespace:
    """The recipe on the embedded model, 2 one-constraint goals of at most 2 exchanges (1 kept,
    1 without a parseable user turn), killed after 2 answers and resumed; one slot, one
    thread (llama.cpp's samples depend on batching and the thread count)."""
    cwd = tmp_path_factory.mktemp("dialogic")
    args = ["--set", "steps[0].params.count=2", "--set", "steps[0].params.max_inform=1",
            "--set", "steps[0].params.book_probability=0", "--set", "steps[1].params.max_turns=2",
            "--set", "backend.parallel=1",
            "--set", "backend.deterministic=true", "--set", "backend.threads=1"]  # fmt: skip
    records = resume_after_kill(cwd, "dialogic", *args, after_calls=2)[0]
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    return SimpleNamespace(cwd=cwd, out=cwd / "data.jsonl", env=env, records=records)


def test_recipe_revises_every_turn_and_checks_the_goal(dialogic_run):
    failed = read_jsonl(dialogic_run.out.with_name("data.errors.jsonl"))
    assert len(failed) + len(dialogic_run.records) == 2
    assert all(f[META]["error"]["kind"] in {"goal_mismatch", "malformed_turn"} for f in failed)
    dialogues = [r["dialogue"] for r in dialogic_run.records + failed if "dialogue" in r]
    assert dialogues, "no dialogue simulated"
    for turns in dialogues:
        assert 2 <= len(turns) <= 4 and turns[0]["speaker"] == "user"
        for user in turns[::2]:
            assert set(user["revision"]) == {"dropped", "replaced", "added"}
            for domain, slots in user["belief_state"].items():  # revised: ontology slots only
                assert set(slots) <= set(ONTOLOGY.informable[domain])
    for kept in dialogic_run.records:
        assert kept["verification"]["kind"] == "dialogue_state" and kept["verification"]["verified"]
    done = run_cli("verify", str(dialogic_run.out), "--json", cwd=dialogic_run.cwd,
                   env=dialogic_run.env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == report["agreed"] == len(dialogic_run.records)
