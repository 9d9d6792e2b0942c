"""ClinGen: topics drawn from the knowledge graph per label with the triples they come from,
styles given or suggested, texts with personal information dropped; the clingen recipe on
the embedded model, run twice (the rerun makes no model call)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, run_recipe_twice, write_jsonl

from synthaug.engine.step import StepContext
from synthaug.errors import InputError
from synthaug.knowledge.entities import entity_key
from synthaug.methods.grounded.clingen import (
    Generate,
    LLMTopics,
    Styles,
    Topics,
    personal_information,
)
from synthaug.records import META, error_of

TRIPLES = [
    ("asthma", "has symptom", "wheezing"),
    ("asthma", "treated with", "salbutamol"),
    ("Asthma", "diagnosed by", "spirometry"),
    ("gout", "treated with", "colchicine"),
    ("gout", "caused by", "uric acid crystals"),
]
LABELS = ["symptoms", "treatment", "diagnosis"]
RELATIONS = {"symptoms": ["has symptom"], "treatment": ["treated_with"]}


def triple_rows() -> list[dict]:
    return [{"subject": s, "relation": r, "object": o, META: {"id": f"t{i}"}}
            for i, (s, r, o) in enumerate(TRIPLES)]  # fmt: skip


async def consume(step, rows: list[dict], ctx: StepContext) -> list[dict]:
    async def feed():
        for row in rows:
            yield row

    return [row async for row in step.transform(feed(), ctx)]


def context(reply: str | None = None) -> StepContext:
    """A context whose client answers ``reply`` (for the parsing of replies only)."""
    llm = None
    if reply is not None:

        async def complete(request):
            return SimpleNamespace(text=reply, choices=[SimpleNamespace(finish_reason="stop")])

        llm = SimpleNamespace(complete=complete, key=lambda request: "key",
                              backend=SimpleNamespace(describe=lambda: "m"))  # fmt: skip
    return StepContext(llm=llm, run_seed=0, step_name="t")


def test_topics_come_from_the_label_triples_of_the_graph():
    step = Topics(labels=LABELS, relations=RELATIONS, count=9)
    rows = asyncio.run(consume(step, triple_rows(), context()))
    assert [row["label"] for row in rows] == LABELS * 3
    assert {row["topic_source"] for row in rows} == {"graph"}
    by_id = {row[META]["id"]: row for row in triple_rows()}
    for row in rows:
        wanted = {r.replace("_", " ") for r in RELATIONS.get(row["label"], [])}
        assert row["topic_triples"] and row[META]["parents"]
        for triple in row["topic_triples"]:
            source = by_id[triple["triple_id"]]
            assert {k: source[k] for k in ("subject", "relation", "object")} == {
                k: triple[k] for k in ("subject", "relation", "object")
            }
            assert entity_key(row["topic"]) in (entity_key(triple["subject"]),
                                                entity_key(triple["object"]))  # fmt: skip
            assert not wanted or triple["relation"] in wanted
    treatment = {row["topic"] for row in rows if row["label"] == "treatment"}
    assert treatment <= {"asthma", "salbutamol", "gout", "colchicine"}
    again = asyncio.run(consume(step, triple_rows(), context()))
    assert again == rows  # seeded


def test_topics_reject_labels_without_triples():
    with pytest.raises(ValueError, match="not in labels"):
        Topics(labels=["symptoms"], relations={"cause": ["caused by"]})
    step = Topics(labels=["cause"], relations={"cause": ["risk factor"]})
    with pytest.raises(InputError, match="no triple of 5 has a relation of label 'cause'"):
        asyncio.run(consume(step, triple_rows(), context()))


def test_styles_given_or_suggested_are_drawn_for_each_row():
    rows = [{"label": "x", META: {"id": f"r{i}", "parents": []}} for i in range(6)]
    given = asyncio.run(consume(Styles(styles=["case report", "patient question"]), rows,
                                context()))  # fmt: skip
    assert {row["style"] for row in given} <= {"case report", "patient question"}
    reply = '{"styles": ["Clinical note", "clinical  note", "Discharge summary"]}'
    suggested = asyncio.run(consume(Styles(count=3), rows, context(reply)))
    assert {row["style"] for row in suggested} <= {"clinical note", "discharge summary"}
    with pytest.raises(InputError, match="no writing style"):
        asyncio.run(consume(Styles(), rows, context('{"styles": []}')))


def test_personal_information_is_detected_and_such_texts_dropped():
    assert personal_information("Asthma is diagnosed by spirometry in 2 steps.") == []
    assert personal_information("Call the patient at +1 415 555 0132.") == ["phone"]
    assert personal_information("Results sent to j.doe@example.org") == ["email"]
    row = {"label": "treatment", "topic": "gout", "style": "clinical note",
           META: {"id": "r0", "parents": []}}  # fmt: skip
    (kept,) = asyncio.run(
        Generate().process(row, context("Text: Gout is treated with colchicine."))
    )
    assert kept["text"] == "Gout is treated with colchicine." and kept["label"] == "treatment"
    (lost,) = asyncio.run(Generate().process(row, context("Mail jane.roe@clinic.example.com.")))
    assert error_of(lost)["kind"] == "personal_information"
    assert "email" in error_of(lost)["message"]


def test_clingen_recipe_on_the_embedded_model_twice(tmp_path):
    records = run_recipe_twice(
        tmp_path, "clingen",
        "--set", "steps[1].params.count=4", "--set", "steps[2].params.count=4",
        "--set", "steps[3].params.max_tokens=80", "--set", "backend.threads=1",
    )  # fmt: skip
    errors = tmp_path / "data.errors.jsonl"
    assert records and len(records) <= 4
    failed = read_jsonl(errors) if errors.exists() else []
    assert {error_of(e)["kind"] for e in failed} <= {"personal_information", "format"}
    labels = {"symptoms", "treatment", "diagnosis", "cause"}
    for record in records:
        assert record["label"] in labels and record["text"].strip() and record["style"]
        assert not personal_information(record["text"])
        ends = [
            (entity_key(t["subject"]), entity_key(t["object"])) for t in record["topic_triples"]
        ]
        assert any(entity_key(record["topic"]) in pair for pair in ends)


def test_demonstrations_of_the_label_are_shown(tmp_path):
    examples = [{"text": f"Gout text {i}.", "label": "treatment"} for i in range(5)]
    examples.append({"text": "Wheezing text.", "label": "symptoms"})
    path = write_jsonl(tmp_path / "examples.jsonl", examples)
    row = {"label": "treatment", "topic": "gout", "style": "clinical note",
           META: {"id": "r0", "parents": []}}  # fmt: skip
    (request,) = Generate(examples=str(path)).requests(row, context())
    prompt = request.messages[0]["content"]
    assert prompt.count("Gout text") == 3 and "Wheezing" not in prompt
    assert prompt.rstrip().endswith("Label: treatment\nText:")
    (plain,) = Generate().requests(row, context())
    assert "examples" not in plain.messages[0]["content"]
    write_jsonl(path, [{"text": "no label"}])
    with pytest.raises(InputError, match="label"):
        Generate(examples=str(path))


def test_llm_topics_are_drawn_from_the_suggested_lists():
    reply = '{"topics": ["Gout", "gout", "Asthma attack", "Spirometry"]}'
    step = LLMTopics(labels=LABELS, count=6, per_label=2)

    async def rows():
        return [row async for row in step.rows(context(reply))]

    made = asyncio.run(rows())
    assert [row["label"] for row in made] == LABELS * 2
    assert {row["topic"] for row in made} <= {"gout", "asthma attack"}
    assert all(row["topic_source"] == "llm" and row["topic_triples"] == [] for row in made)
    assert len({row[META]["id"] for row in made}) == 6
    with pytest.raises(InputError, match="no topic of 'symptoms'"):
        asyncio.run(LLMTopics(labels=LABELS).rows(context('{"topics": [')).__anext__())
