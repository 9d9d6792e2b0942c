"""One-shot task-oriented dialogues (Labruna et al., 2023): goals sampled from the ontology,
the goal check and its normalisation, malformed replies as row errors with reasons, the
recipe end to end on the embedded model (killed and resumed), and ``synthaug verify``."""

from __future__ import annotations

import asyncio
import copy
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, summary_of

from synthaug.engine.step import RowError, StepContext
from synthaug.errors import InputError
from synthaug.methods.dialogue.one_shot import Check, Goals, OneShot, parse_dialogue, reply_schema
from synthaug.methods.dialogue.ontology import (
    closest_example,
    load_examples,
    load_ontology,
    sample_goal,
)
from synthaug.records import META
from synthaug.verify.dialogue_state import check_state, final_state, normalise
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

ONTOLOGY = load_ontology()
GOAL = {"restaurant": {"inform": {"food": "italian", "area": "centre", "book people": "2"},
                       "request": ["phone"]}}  # fmt: skip


def turn(speaker: str, text: str, state: dict) -> dict:
    return {"speaker": speaker, "text": text, "belief_state": state}


def context(llm=None) -> StepContext:
    return StepContext(llm=llm, run_seed=0, step_name="t")


def model(reply: str, finish_reason: str = "stop"):
    """A client answering every request with ``reply`` (for the parsing of replies only)."""

    async def complete(request):
        return SimpleNamespace(text=reply, choices=[SimpleNamespace(finish_reason=finish_reason)])

    return SimpleNamespace(
        complete=complete, key=lambda request: "key", backend=SimpleNamespace(describe=lambda: "m")
    )


def fails(step, record, ctx) -> RowError:
    with pytest.raises(RowError) as raised:
        asyncio.run(step.process(record, ctx))
    return raised.value


def test_goals_come_from_the_ontology():
    for seed in range(200):
        goal = sample_goal(ONTOLOGY, random.Random(seed), list(ONTOLOGY.informable), 2, 3, 0.5)
        assert 1 <= len(goal) <= 2
        for domain, parts in goal.items():
            slots = ONTOLOGY.informable[domain]
            search = [s for s in parts["inform"] if not s.startswith("book ")]
            assert 1 <= len(search) <= 3
            assert all(value in slots[slot] for slot, value in parts["inform"].items())
            booked = {s for s in parts["inform"] if s.startswith("book ")}
            assert booked in (set(), {s for s in slots if s.startswith("book ")})
            assert 1 <= len(parts["request"]) <= 2
            assert set(parts["request"]) <= set(ONTOLOGY.requestable[domain])
    rows = [r["goal"] for r in _rows(Goals(count=5, domains=["taxi"], max_domains=3))]
    assert len(rows) == 5 and all(list(goal) == ["taxi"] for goal in rows)
    with pytest.raises(InputError, match="not in the ontology: spa"):
        Goals(domains=["hotel", "spa"])


def _rows(step) -> list[dict]:
    async def collect():
        return [row async for row in step.rows(context())]

    return asyncio.run(collect())


def test_bad_ontology_is_an_input_error(tmp_path: Path):
    bad = tmp_path / "o.json"
    bad.write_text('{"domains": {"hotel": {"informable": {"area": []}}}}')
    with pytest.raises(InputError, match="without informable slots or values"):
        load_ontology(str(bad))
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="not an ontology"):
        load_ontology(str(bad))


def test_the_example_shares_most_domains_with_the_goal():
    examples = load_examples()
    taxi = {"taxi": {"inform": {"leaveat": "08:00"}, "request": ["phone"]}}
    assert "taxi" in closest_example(examples, taxi, random.Random(0))["goal"]
    assert "restaurant" in closest_example(examples, GOAL, random.Random(0))["goal"]
    for example in examples:  # the shipped examples pass their own check
        assert check_state(example["goal"], example["turns"], ONTOLOGY.slots(),
                           ONTOLOGY.aliases)["verified"]  # fmt: skip


def test_normalisation_and_the_final_state():
    aliases = ONTOLOGY.aliases
    assert normalise("  City   Centre. ", aliases) == "centre"
    assert normalise("Two", aliases) == "2" and normalise("Italian!", aliases) == "italian"
    turns = [turn("user", "a", {"restaurant": {"food": "chinese"}}),
             turn("system", "b", {}),
             turn("user", "c", {"restaurant": {"food": "italian", "area": "center"}})]  # fmt: skip
    assert final_state(turns) == {"restaurant": {"food": "italian", "area": "center"}}


def test_the_check_names_every_problem():
    good = [turn("user", "Italian in the centre for two.",
                 {"restaurant": {"food": "Italian", "area": "center", "book people": "two"}})]  # fmt: skip
    assert check_state(GOAL, good, ONTOLOGY.slots(), ONTOLOGY.aliases) == {
        "belief_state": good[0]["belief_state"], "problems": [], "verified": True
    }  # fmt: skip
    bad = [turn("user", "x", {"restaurant": {"food": "chinese", "colour": "red"},
                              "spa": {"area": "north"}})]  # fmt: skip
    check = check_state(GOAL, bad, ONTOLOGY.slots(), ONTOLOGY.aliases)
    assert not check["verified"] and check["problems"] == [
        "restaurant.food is 'chinese', the goal says 'italian'",
        "restaurant.area is missing (goal: 'centre')",
        "restaurant.book people is missing (goal: '2')",
        "restaurant.colour is not a slot of restaurant",
        "domain 'spa' is not in the ontology",
    ]


def test_reply_schema_constrains_as_asked():
    def state(constrain: str) -> dict:
        schema = reply_schema(GOAL, ONTOLOGY, constrain, 6, 100)
        assert schema["properties"]["turns"]["maxItems"] == 6
        return schema["properties"]["turns"]["items"]["properties"]["belief_state"]

    assert state("shape")["additionalProperties"]["additionalProperties"] == {"type": "string"}
    slots = state("ontology")["properties"]["restaurant"]["properties"]
    assert list(state("ontology")["properties"]) == ["restaurant"]
    assert set(slots) == set(ONTOLOGY.informable["restaurant"]) and slots["food"]["type"]
    values = state("values")["properties"]["restaurant"]["properties"]["area"]
    assert values == {"enum": ONTOLOGY.informable["restaurant"]["area"]}


def test_malformed_replies_are_row_errors_with_reasons():
    record = {"goal": GOAL, META: {"id": "row-1", "parents": [], "step": "t", "method": "t"}}
    cut = fails(OneShot(), record, context(model('{"turns": [{"speaker": "us', "length")))
    assert cut.kind == "malformed_output" and "(cut off at max_tokens)" in str(cut)
    cases = [
        ('{"turns": []}', "malformed_output", "no list of turns"),
        ('{"turns": [{"speaker": "bot", "text": "hi"}]}', "malformed_turn",
         "turn 1 has no speaker user/system"),
        ('{"turns": [{"speaker": "user", "text": "hi"}, {"speaker": "system", "text": " "}]}',
         "malformed_turn", "turn 2 has no text"),
        ('{"turns": [{"speaker": "user", "text": "hi", "belief_state": {"restaurant": "x"}}]}',
         "malformed_annotation", "turn 1: the belief state is not {domain: {slot: value}}"),
    ]  # fmt: skip
    for reply, kind, reason in cases:
        error = fails(OneShot(), record, context(model(reply)))
        assert error.kind == kind and reason in str(error), (reply, str(error))
    reply = json.dumps({"turns": [turn("user", " Italian, centre, for 2. ", {"restaurant": {
        "food": "italian", "area": "centre", "book people": 2}}), turn("system", "Booked.", {})]})  # fmt: skip
    (made,) = asyncio.run(OneShot().process(record, context(model(reply))))
    assert made["dialogue"][0]["text"] == "Italian, centre, for 2."
    assert made["dialogue"][0]["belief_state"]["restaurant"]["book people"] == "2"
    assert parse_dialogue(json.loads(reply)) == made["dialogue"]
    (kept,) = asyncio.run(Check().process(made, context()))
    assert [m["role"] for m in kept["messages"]] == ["user", "assistant"]
    evidence = kept["verification"]
    assert evidence["kind"] == "dialogue_state" and evidence["verified"] is True
    sandbox = Sandbox()
    assert asyncio.run(reverify(evidence, sandbox)) is True
    forged = copy.deepcopy(evidence)
    forged["turns"][0]["belief_state"]["restaurant"]["food"] = "thai"
    assert asyncio.run(reverify(forged, sandbox)) is False
    wrong = {**made, "goal": {"restaurant": {"inform": {"food": "thai"}, "request": []}}}
    mismatch = fails(Check(), wrong, context())
    assert mismatch.kind == "goal_mismatch"
    assert str(mismatch) == "restaurant.food is 'italian', the goal says 'thai'"


@pytest.fixture(scope="module")
def dialogue_run(tmp_path_factory) -> SimpleNamespace:
    """The recipe on the embedded model with 3 goals, killed with SIGKILL after 1 answer and
    resumed (``resume_after_kill`` checks the resume). One slot, one thread: llama.cpp's
    samples depend on batching and the thread count."""
    cwd = tmp_path_factory.mktemp("task_dialogues")
    args = ["--set", "steps[0].params.count=3", "--set", "backend.parallel=1",
            "--set", "backend.deterministic=true", "--set", "backend.threads=1"]  # fmt: skip
    records = resume_after_kill(cwd, "task_dialogues", *args, after_calls=1)[0]
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    return SimpleNamespace(cwd=cwd, out=cwd / "data.jsonl", env=env, records=records)


def test_recipe_keeps_only_dialogues_matching_their_goal(dialogue_run):
    records = dialogue_run.records
    assert records, "no dialogue kept"
    for record in records:
        evidence = record["verification"]
        assert evidence["kind"] == "dialogue_state" and evidence["verified"] is True
        assert evidence["turns"] == record["dialogue"] and len(record["dialogue"]) >= 2
        assert final_state(record["dialogue"]) == record["belief_state"]
        for domain, parts in record["goal"].items():
            for slot, value in parts["inform"].items():
                assert normalise(record["belief_state"][domain][slot], ONTOLOGY.aliases) == value
        assert [m["content"] for m in record["messages"]] == [t["text"] for t in record["dialogue"]]
    failed = read_jsonl(dialogue_run.out.with_name("data.errors.jsonl"))
    assert len(failed) + len(records) == 3
    kinds = {"goal_mismatch", "malformed_output", "malformed_turn", "malformed_annotation"}
    assert all(f[META]["error"]["kind"] in kinds and f[META]["error"]["message"] for f in failed)
    steps = {s["name"]: s for s in summary_of(dialogue_run.out)["steps"]}
    assert steps["check"]["rows_out"] == len(records)


def test_verify_re_checks_every_dialogue_and_agrees(dialogue_run):
    done = run_cli("verify", str(dialogue_run.out), "--json", cwd=dialogue_run.cwd,
                   env=dialogue_run.env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == len(dialogue_run.records) == report["agreed"]
    assert report["by_kind"]["dialogue_state"]["agreed"] == len(dialogue_run.records)


def test_bad_recipe_input_is_one_line(tmp_path: Path):
    out = str(tmp_path / "d.jsonl")
    done = run_cli("run", "task_dialogues", "--out", out, "--set",
                   'steps[0].params.domains=["spa"]', cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "synthaug: error: domains: not in the ontology: spa"
    ]
    (tmp_path / "bad.json").write_text('{"domains": 3}')
    done = run_cli("run", "task_dialogues", "--out", out, "--set",
                   "steps[0].params.ontology=bad.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("synthaug: error: bad.json: not an ontology")
    assert not (tmp_path / "d.jsonl").exists()
