"""KMLM-style triples to text: templates, code-switched sequences, file formats, smoothing."""

from __future__ import annotations

import asyncio
import random

import pytest
from conftest import read_jsonl, run_cli, summary_of, write_jsonl

from synthaug.engine.step import StepContext
from synthaug.errors import InputError
from synthaug.methods.augment import kg_text
from synthaug.methods.augment.labelled import first_line
from synthaug.records import source_record

TEMPLATES = kg_text.load_templates(str(kg_text.DEFAULT_TEMPLATES))


def triple(s: str, r: str, o: str) -> dict[str, str]:
    return {"subject": s, "relation": r, "object": o}


def test_known_relation_and_aliases():
    name, sentence = kg_text.verbalize(triple("Ulm", "P19", "x"), TEMPLATES, random.Random(0))
    assert name == "place of birth" and sentence == "Ulm was born in x."
    name, _ = kg_text.verbalize(triple("a", "Place_of_Birth", "b"), TEMPLATES, random.Random(0))
    assert name == "place of birth"
    sentences = {
        kg_text.verbalize(triple("France", "capital", "Paris"), TEMPLATES, random.Random(s))[1]
        for s in range(20)
    }
    assert sentences == {"The capital of France is Paris.", "Paris is the capital of France."}


def test_unknown_relation_uses_generic_template():
    name, sentence = kg_text.verbalize(
        triple("Tanzania", "highest_point", "Mount Kilimanjaro"), TEMPLATES, random.Random(0)
    )
    assert name == "generic"
    assert sentence == "The highest point of Tanzania is Mount Kilimanjaro."


def test_bad_templates_file(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("generic: ['{subject} {nonsense} {object}']\n")
    with pytest.raises(InputError, match=r"needs \{subject\} and \{object\}"):
        kg_text.load_templates(str(bad))
    (tmp_path / "u.yaml").write_text("relations: {}\n")
    with pytest.raises(InputError, match="not a templates file"):
        kg_text.load_templates(str(tmp_path / "u.yaml"))


def test_code_switched_sequence():
    labels = {"subject": {"de": "Frankreich"}, "relation": {"de": "Hauptstadt"}}
    seen = set()
    for seed in range(30):
        sequence, languages = kg_text.code_switched(
            triple("France", "capital", "Paris"), labels, random.Random(seed)
        )
        seen.add(sequence)
        assert languages["object"] == "en"
    assert seen == {
        "France capital Paris",
        "Frankreich capital Paris",
        "France Hauptstadt Paris",
        "Frankreich Hauptstadt Paris",
    }
    unusable = {"subject": "not a dict", "object": {"de": 3}}
    assert kg_text.code_switched(triple("a", "b", "c"), unusable, random.Random(0))[0] == "a b c"
    assert kg_text.code_switched(triple("a", "b", "c"), None, random.Random(0)) == (
        "a b c",
        {"subject": "en", "relation": "en", "object": "en"},
    )


def test_entity_survival_on_recorded_rewrites():
    # rewrites the embedded SmolLM2-135M gave for sample triples (temperature 0.8)
    assert kg_text.missing_entities(
        "Magle de Cervantes wrote Don Quixote.", ["Don Quixote", "Miguel de Cervantes"]
    ) == ["Miguel de Cervantes"]
    assert not kg_text.missing_entities(
        "HAMLET was written by William Shakespeare.", ["Hamlet", "William Shakespeare"]
    )
    reply = 'Leo Tolstoy wrote "War and Peace.\n\nThis sentence is now fluent.'
    assert first_line(reply) == 'Leo Tolstoy wrote "War and Peace.'
    assert not kg_text.missing_entities(first_line(reply), ["War and Peace", "Leo Tolstoy"])


def test_sample_and_tsv(tmp_path):
    sample = kg_text.read_triples(None)
    assert len(sample) == 40 and all(t["subject"] and t["object"] for t in sample)
    tsv = tmp_path / "t.tsv"
    tsv.write_text("subject\trelation\tobject\nOxygen\tatomic number\t8\n", encoding="utf-8")
    assert kg_text.read_triples(str(tsv)) == [triple("Oxygen", "atomic number", "8")]
    tsv.write_text("subject\trelation\tobject\nOxygen\t\t8\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"t.tsv:2: field 'relation'"):
        kg_text.read_triples(str(tsv))
    tsv.write_text("subject\trelation\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"t.tsv:1: the header lacks object"):
        kg_text.read_triples(str(tsv))
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("subject,relation,object\nGold,chemical symbol,Au\n", encoding="utf-8")
    assert kg_text.read_triples(str(csv_file))[0]["object"] == "Au"


def test_step_without_model():
    step = kg_text.Verbalize(form="sequence")
    assert not step.uses_llm
    row = source_record(triple("Gold", "chemical symbol", "Au"), source="t", index=0)
    ctx = StepContext(llm=None, run_seed=0, step_name=step.name)
    (out,) = asyncio.run(step.process(row, ctx))
    assert out["text"] == "Gold chemical symbol Au" == out["kg_sequence"]
    assert out["kg_sentence"] == "The chemical symbol of Gold is Au."
    assert out["_meta"]["parents"] == [row["_meta"]["id"]] and out["kg_smoothed"] is False


def test_recipe_without_model(tmp_path):
    out = tmp_path / "data.jsonl"
    result = run_cli("run", "kg_text", "--out", str(out), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_jsonl(out)
    assert len(rows) == 40 and summary_of(out)["llm"]["model_calls"] == 0
    assert sum(r["kg_template"] == "generic" for r in rows) == 1


def test_smoothing_on_embedded_model(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [triple("Mount Everest", "located in", "Himalayas"), triple("Gold", "P246", "Au")],
    )
    out = tmp_path / "data.jsonl"
    args = [
        "run",
        "kg_text",
        "--set",
        f"steps.0.params.path={path}",
        "--set",
        "steps.1.params.smooth=true",
        "--set",
        "steps.1.params.max_tokens=32",
        "--out",
        str(out),
        "--quiet",
    ]
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    rows = read_jsonl(out)
    assert summary_of(out)["llm"]["model_calls"] == 2 and len(rows) == 2
    for row in rows:
        assert isinstance(row["kg_entities_kept"], bool) and isinstance(row["kg_rewrite"], str)
        assert row["_meta"]["request"] and row["_meta"]["model"]
        entities = [row["subject"], row["object"]]
        assert row["kg_entities_kept"] == (
            not kg_text.missing_entities(row["kg_rewrite"], entities)
        )
        if not row["kg_entities_kept"]:  # on_lost: template
            assert row["text"] == row["kg_sentence"] and not row["kg_smoothed"]
        assert not kg_text.missing_entities(row["text"], entities)
    again = run_cli(*args, cwd=tmp_path, env=env)
    assert again.returncode == 0 and summary_of(out)["llm"]["model_calls"] == 0
    assert read_jsonl(out) == rows
