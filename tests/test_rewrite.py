"""bioR-style rewriting: the bioS generator, the fact-survival check on recorded rewrites,
and a run on the embedded model."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_cli, run_recipe_twice
from pydantic import ValidationError

from synthaug.engine.step import StepContext
from synthaug.methods.pretrain.rewrite import (
    Bios,
    BiosParams,
    fact_kept,
    fact_value,
    facts_schema,
    key_tokens,
    name_count,
    parse_facts,
    survival,
)

# recorded from SmolLM2-135M rewriting a bioS text as a short news report
FACTS = [
    "name: Yuki Rose Osei",
    "birth date: March 8, 2040",
    "birth city: Austin, TX",
    "university: Cornell University",
    "major: History",
    "employer: Starbucks",
    "employer city: Seattle, WA",
]
REWRITE = "Yuki Rose Osei, a renowned American journalist and a Starbucks employee, is now a prominent figure in the history of the Starbucks Corporation. Yuki, born in Austin, TX, is a prominent and accomplished journalist who has made a significant impact in the history of Starbucks, particularly in the history of history."
# recorded from SmolLM2-135M listing the facts of a bioS text under facts_schema(10), temperature 0
EXTRACTED = '{\n  "facts": [\n    "1. Anya Briar Forger is the subject of this biography.",\n    "2. Anya was born on October 2, 1996.",\n    "3. Anya grew up in Princeton, NJ.",\n    "4. Anya studied at Massachusetts Institute of Technology.",\n    "5. Anya worked for Meta Platforms.",\n    "6. Anya worked in Menlo Park, CA.",\n    "7. 1. Anya Briar Forger is the subject of this biography.",\n    "8. 2. Anya was born on October 2, 1996.",\n    "9. Anya grew up in Princeton, NJ.",\n    "10. 1. Anya Briar Forger is the subject of this biography."\n  ]\n}'


def _people(count: int, seed: int = 0) -> list[dict]:
    async def collect() -> list[dict]:
        ctx = StepContext(llm=None, run_seed=seed, step_name="bios")
        return [row async for row in Bios(num_people=count).rows(ctx)]

    return asyncio.run(collect())


def test_bios_generator_is_seeded_with_distinct_people_and_ground_truth():
    people = _people(30)
    assert people == _people(30) and people != _people(30, seed=1)
    assert len({p["person"]["name"] for p in people}) == 30
    for row in people:
        attributes = row["person"]
        assert row["facts"][0] == f"name: {attributes['name']}"
        assert len(row["facts"]) == 7 and row["text"].startswith(attributes["name"])
        _month, day, year = attributes["birth date"].replace(",", "").split()
        assert 1 <= int(day) <= 28 and 1900 <= int(year) <= 2099
        assert all(fact_kept(fact, row["text"]) for fact in row["facts"])  # bioS states them all
        assert row["_meta"]["parents"] == [] and row["_meta"]["id"]
    with pytest.raises(ValidationError):
        BiosParams(num_people=name_count() + 1)


def test_key_values_of_facts():
    assert fact_value("birth date: October 2, 1996") == "October 2, 1996"
    assert key_tokens("birth date: October 2, 1996") == ["october", "2", "1996"]
    assert key_tokens("university: University of Michigan") == ["university", "michigan"]
    assert key_tokens("hobby: plays chess every Sunday") == ["sunday"]
    assert key_tokens("major: nursing") == ["nursing"]
    assert fact_value("The meeting: it ran long and nobody had a good time at all") != "it ran"


def test_fact_survival_check():
    text = "Born 2 October 1996 in Princeton, N.J., Anya Forger later joined Meta Platforms."
    assert fact_kept("birth date: October 2, 1996", text)  # reordered date: all tokens present
    assert fact_kept("employer: Meta Platforms", text)  # substring after normalisation
    assert not fact_kept("name: Anya Briar Forger", text)  # the middle name is gone
    assert fact_kept("name: Anya Briar Forger", text, min_overlap=0.6)
    assert not fact_kept("major: Communications", text)
    report = survival(["employer: Meta Platforms", "major: Communications"], text)
    assert report["facts_kept"] == ["employer: Meta Platforms"]
    assert report["facts_lost"] == ["major: Communications"] and report["fact_survival"] == 0.5
    assert report["facts_summary"] == "1/2 facts kept; lost: major: Communications"


def test_survival_on_a_recorded_rewrite():
    report = survival(FACTS, REWRITE)
    assert report["facts_kept"] == [
        "name: Yuki Rose Osei",
        "birth city: Austin, TX",
        "major: History",  # "the history of Starbucks": the check is lexical, not semantic
        "employer: Starbucks",
    ]
    assert report["facts_lost"] == [
        "birth date: March 8, 2040",
        "university: Cornell University",
        "employer city: Seattle, WA",
    ]
    assert report["fact_survival"] == 0.5714
    assert report["facts_summary"].startswith("4/7 facts kept; lost: birth date: March 8, 2040;")


def test_extracted_facts_parse():
    schema = facts_schema(10)
    assert schema["properties"]["facts"]["maxItems"] == 10
    facts = parse_facts(EXTRACTED)  # numbered, with repeats: numbering and repeats go
    assert facts == [
        "Anya Briar Forger is the subject of this biography.",
        "Anya was born on October 2, 1996.",
        "Anya grew up in Princeton, NJ.",
        "Anya studied at Massachusetts Institute of Technology.",
        "Anya worked for Meta Platforms.",
        "Anya worked in Menlo Park, CA.",
    ]
    assert key_tokens(facts[1]) == ["anya", "october", "2", "1996"]
    assert fact_kept(facts[1], "On 2 October 1996, Anya was born.")
    assert parse_facts('{"facts": ["Anya was born') == []  # cut off by max_tokens


def test_rewrite_recipe_on_the_embedded_model(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "rewrite",
        "--set",
        "steps[0].params.num_people=2",
        "--set",
        "steps[1].params.max_tokens=64",
    )
    assert len(records) == 2
    registers = {"a biography", "a short news report", "a formal letter of recommendation"}
    for record in records:
        assert record["rewritten_text"] and record["register"] in registers
        assert record["facts"] == [f"{k}: {v}" for k, v in record["person"].items()]
        assert sorted(record["facts_kept"] + record["facts_lost"]) == sorted(record["facts"])
        assert record["fact_survival"] == round(len(record["facts_kept"]) / 7, 4)
        assert record["facts_summary"].startswith(f"{len(record['facts_kept'])}/7 facts kept")
        meta = record["_meta"]
        assert meta["method"] == "rewrite.style" and len(meta["parents"]) == 1
        assert len(meta["request"]) == 1
    bad = run_cli("run", "rewrite", "--set", "steps[1].params.min_survival=2", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[1].params.min_survival" in bad.stderr
