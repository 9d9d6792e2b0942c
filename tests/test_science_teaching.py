"""Science pipelines, part 2: T-SciQ's teaching signals and data-mixing rule (units, then the
recipe on the embedded model over four questions of two skills, its verification re-checked)
and ChemLLM's structured records, seed templates and play-as-chemists dialogues."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, run_cli, write_jsonl

from synthaug.engine.step import RowError, StepContext
from synthaug.errors import InputError
from synthaug.methods.science.chemllm import (
    PlayAsChemists,
    Records,
    compound_records,
    dialogue,
    fact_present,
    template_pairs,
)
from synthaug.methods.science.tsciq import Mix, choose, problem_text
from synthaug.records import META, error_of

FOUR = [
    {"skill": "speed", "question": "A cyclist rides 45 km in 1.5 hours. What is her average "
     "speed in km/h?", "answer": "30"},
    {"skill": "speed", "question": "A runner covers 400 m in 80 s. What is the runner's "
     "average speed in m/s?", "answer": "5"},
    {"skill": "cells", "question": "Which structure holds a eukaryotic cell's DNA?",
     "answer": "nucleus", "choices": ["cytoplasm", "nucleus", "ribosome", "vacuole"]},
    {"skill": "cells", "question": "Which organelle carries out photosynthesis in plant cells?",
     "answer": "chloroplast", "choices": ["chloroplast", "nucleus", "ribosome", "vacuole"]},
]  # fmt: skip


def test_tsciq_problem_blocks_and_the_authors_mixing_rule():
    assert problem_text(FOUR[2], with_answer=True) == (
        "Question: Which structure holds a eukaryotic cell's DNA?\nContext: N/A\n"
        "Options: (A) cytoplasm (B) nucleus (C) ribosome (D) vacuole\nCorrect Answer: nucleus"
    )
    assert problem_text(FOUR[0], with_answer=False).endswith("Options: N/A")
    assert choose({"qa_cot": 0, "qa_pcot": 1}) == "qa_cot"  # PCoT errs more: QA-CoT
    assert choose({"qa_cot": 2, "qa_pcot": 2}) == "qa_pcot"  # a tie keeps PCoT
    assert choose({"qa_cot": 3, "qa_pcot": 1}) == "qa_pcot"
    assert choose(None) == "qa_pcot"  # a skill without validation rows


def test_tsciq_split_holds_out_a_share_of_every_skill_with_two_rows():
    rows = [{"skill": s} for s in ["a"] * 8 + ["b"] * 2 + ["c"]]
    ctx = StepContext(llm=None, run_seed=0, step_name="mix")
    held = Mix().split(rows, ctx)
    assert held == Mix().split(rows, ctx)  # seeded
    assert len([i for i in held if i < 8]) == 2 and len([i for i in held if i in (8, 9)]) == 1
    assert 10 not in held


@pytest.fixture(scope="module")
def tsciq_run(tmp_path_factory) -> SimpleNamespace:
    """The tsciq recipe on four questions of two skills (one validation row each)."""
    cwd = tmp_path_factory.mktemp("tsciq")
    write_jsonl(cwd / "four.jsonl", FOUR)
    out = cwd / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    done = run_cli(
        "run", "tsciq", "--out", str(out), "--quiet",
        "--set", f"steps[0].params.path={cwd / 'four.jsonl'}",
        "--set", "backend.threads=1", "--set", "backend.parallel=2",
        "--set", "backend.deterministic=true",
        "--set", "steps[1].params.max_tokens=48", "--set", "steps[2].params.max_tokens=64",
        "--set", "steps[3].params.max_tokens=32", cwd=cwd, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return SimpleNamespace(cwd=cwd, out=out, env=env, records=read_jsonl(out),
                           errors=read_jsonl(cwd / "data.errors.jsonl"))  # fmt: skip


def test_tsciq_mixes_signals_per_skill_by_the_students_validation_errors(tsciq_run):
    records, errors = tsciq_run.records, tsciq_run.errors
    assert len(records) == 2 and len(errors) == 2
    assert {r["skill"] for r in records} == {e["skill"] for e in errors} == {"speed", "cells"}
    held = {e[META]["parents"][0]: e for e in errors}
    for failed in errors:
        assert error_of(failed)["kind"] == "held_out_validation"
        answers = failed["student_answers"]
        assert [a["signal"] for a in answers] == ["qa_cot", "qa_pcot"]
        assert all(a["shots"] == 1 and a["verification"]["kind"] == "answer" for a in answers)
    for record in records:
        policy = record["tsciq_policy"]
        assert record["signal"] == choose(policy["errors"]) and policy["skill"] == record["skill"]
        (validation,) = policy["validation_ids"]
        student = held[validation]["student_answers"]
        wrong = {a["signal"]: int(not a["verification"]["verified"]) for a in student}
        assert policy["errors"] == wrong
        chosen = record[record["signal"]]
        assert (
            record["rationale"] == chosen["rationale"]
            and record["verification"] == (chosen["verification"])
        )
        assert record["verification"]["gold"] == record["answer"]
        assert record["lecture"] and record["plan"]
        assert record["messages"][1]["content"] == record["rationale"]
        assert "Correct Answer" not in record["messages"][0]["content"]
    done = run_cli("verify", str(tsciq_run.out), "--json", cwd=tsciq_run.cwd, env=tsciq_run.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["agreed"] == 2


def test_chemllm_records_come_from_periodictable_and_the_compound_table():
    step = Records(elements=3, compound_count=2)
    records = step.records()
    assert [r["name"] for r in records] == ["hydrogen", "helium", "lithium", "water",
                                            "carbon dioxide"]  # fmt: skip
    assert records[0] == {"kind": "element", "name": "hydrogen", "symbol": "H",
                          "atomic_number": 1, "atomic_mass": 1.008}  # fmt: skip
    assert records[3]["molar_mass"] == 18.02 and records[4]["molar_mass"] == 44.01


def test_chemllm_bad_formula_is_one_line_naming_file_and_line(tmp_path):
    table = write_jsonl(tmp_path / "c.jsonl", [{"name": "ok", "formula": "H2O"},
                                              {"name": "bad", "formula": "H2Qz"}])  # fmt: skip
    with pytest.raises(InputError) as raised:
        compound_records(str(table), None)
    assert str(raised.value).startswith(f"{table}:2: bad formula 'H2Qz'")


def test_chemllm_templates_fill_pairs_and_a_multi_turn_dialogue():
    water = compound_records(None, 1)[0]
    pairs = template_pairs(water, seed=3)
    assert pairs == template_pairs(water, seed=3)
    assert [p["property"] for p in pairs] == ["formula", "molar_mass", "smiles", "state", "use"]
    by = {p["property"]: p for p in pairs}
    assert by["molar_mass"]["value"] == "18.02" and "18.02 g" in by["molar_mass"]["answer"]
    assert "water" in by["formula"]["question"].lower() and "H2O" in by["formula"]["answer"]
    messages = dialogue(pairs)
    assert len(messages) == 10 and messages[0]["content"] == pairs[0]["question"]
    assert messages[2]["content"] == pairs[1]["follow_up"]
    assert fact_present("18.02", "It weighs 18.02 grams") and not fact_present("18.02", "18 g")
    assert fact_present("H2O", "written H2O.") and not fact_present("H", "Hello")
    assert fact_present("liquid", "A Liquid at room temperature")


def test_chemllm_play_keeps_a_dialogue_only_when_its_facts_survive():
    water = compound_records(None, 1)[0]
    pairs = template_pairs(water, seed=0)[:2]
    record = {**water, "qa_pairs": pairs, "messages": dialogue(pairs),
              META: {"id": "w", "parents": [], "step": "t", "method": "t"}}  # fmt: skip

    def reply(chemist_mass: str) -> str:
        return json.dumps({"turns": [
            {"student": "What is water's formula?", "chemist": "It is H2O."},
            {"student": "And its molar mass?", "chemist": f"About {chemist_mass} g/mol."}]})  # fmt: skip

    def play(text: str, **params):
        client = SimpleNamespace(
            complete=lambda request: asyncio.sleep(0, SimpleNamespace(text=text)),
            key=lambda request: "k", backend=SimpleNamespace(describe=lambda: "j"))  # fmt: skip
        ctx = StepContext(llm=client, run_seed=0, step_name="play")
        return asyncio.run(PlayAsChemists(**params).process(record, ctx))

    (kept,) = play(reply("18.02"))
    assert kept["dialogue_kept"] and kept["messages"][3]["content"] == "About 18.02 g/mol."
    (fallback,) = play(reply("18"))
    assert not fallback["dialogue_kept"] and fallback["messages"] == record["messages"]
    assert [f["present"] for f in fallback["facts"]] == [True, False]
    with pytest.raises(RowError) as raised:
        play(reply("18"), on_lost_fact="drop")
    assert raised.value.kind == "lost_fact" and "molar_mass" in str(raised.value)
    with pytest.raises(RowError):
        play('{"turns": []}')


def test_chemllm_recipe_makes_dialogues_on_the_embedded_model(tmp_path):
    out = tmp_path / "data.jsonl"
    done = run_cli(
        "run", "chemllm", "--limit", "2", "--out", str(out), "--quiet",
        "--set", "backend.threads=1", "--set", "backend.parallel=2",
        "--set", "steps[2].params.max_tokens=192", cwd=tmp_path,
        env={"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = read_jsonl(out)
    failed = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(failed) if failed.exists() else []
    assert len(records) + len(errors) == 2 and records
    assert all(error_of(e)["kind"] == "malformed_output" for e in errors)
    for record in records:
        assert record["kind"] == "element" and len(record["messages"]) == 6
        assert [f["property"] for f in record["facts"]] == ["symbol", "atomic_number",
                                                           "atomic_mass"]  # fmt: skip
        assert record["dialogue_kept"] == all(f["present"] for f in record["facts"])
        if not record["dialogue_kept"]:
            assert record["messages"] == dialogue(record["qa_pairs"])
