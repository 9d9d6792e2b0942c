"""Legal pipelines: DISC-LawLLM syllogisms, Lawyer LLaMA explanations and LawGPT /
WisdomInterrogatory consultations over retrieved U.S. constitutional provisions, every kept
record citing only articles retrieved for it (re-checked by `synthaug verify`)."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, summary_of, write_jsonl

from synthaug.methods.grounded.retrieve import RetrieveParams
from synthaug.methods.legal.consultation import consultation_grammar, parse_consultation
from synthaug.methods.legal.disc_law import parse_syllogism, syllogism_grammar
from synthaug.records import error_of
from synthaug.verify.statutes import check_statute_citations, cited_articles

# deterministic decoding: llama.cpp's batching would make what is kept vary run to run
SMALL = ["--set", "backend.threads=1", "--set", "backend.deterministic=true"]
IV, V = "U.S. Const. amend. IV", "U.S. Const. amend. V"


def shipped(name: str) -> list[dict]:
    return read_jsonl(resources.files("synthaug") / "data" / name)


def test_citations_are_read_and_checked_against_the_retrieved_articles():
    text = f"Under [{IV}] a warrant is needed; see also [ {V} ] and [{IV}]."
    assert cited_articles(text) == [IV, V]
    assert check_statute_citations(text, [IV, V]) == {"cited": [IV, V], "unknown": [],
                                                      "verified": True}  # fmt: skip
    check = check_statute_citations(text, [IV])
    assert check["unknown"] == [V] and not check["verified"]
    assert not check_statute_citations("No citation at all.", [IV])["verified"]


def test_syllogisms_and_consultations_parse():
    parts = parse_syllogism(f"**Major premise:** According to [{IV}], searches need a warrant.\n"
                            "Minor premise: The police searched without one.\n"
                            "Conclusion: The search was unlawful.")  # fmt: skip
    assert parts == {"major_premise": f"According to [{IV}], searches need a warrant.",
                     "minor_premise": "The police searched without one.",
                     "conclusion": "The search was unlawful."}  # fmt: skip
    assert parse_syllogism("Major premise: ...\nMinor premise: ...\nConclusion: ...") is None
    assert parse_syllogism("Major premise: a rule.\nConclusion: so.") is None
    turns = parse_consultation("My house was searched.", "Lawyer: Under [X], ask.\n"
                               "Client: No warrant.\nClient: None at all.\nLawyer: Then no.")  # fmt: skip
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0]["content"] == "My house was searched."
    assert turns[2]["content"] == "No warrant. None at all."
    assert parse_consultation("Hi.", "Client: hello again") == []
    # the grammars offer exactly the retrieved ids as citations
    articles = [{"id": IV}, {"id": "U.S. Const. amend. XIV, § 1"}]
    for grammar in (syllogism_grammar(articles), consultation_grammar(articles, 3)):
        cite = next(line for line in grammar.splitlines() if line.startswith("cite ::= "))
        assert cite == f'cite ::= "[{IV}]" | "[U.S. Const. amend. XIV, § 1]"'
    assert consultation_grammar(articles, 3).startswith(
        "root ::= lawyer client lawyer client lawyer\n"
    )


def test_shipped_statutes_and_questions_fit_together():
    statutes = shipped("legal_statutes.jsonl")
    ids = [s["chunk_id"] for s in statutes]
    assert len(ids) == len(set(ids)) == 15 and all(s["text"].strip() for s in statutes)
    questions = shipped("legal_questions.jsonl")
    assert all(q["statute"] in ids and q["question"] and q["answer"] for q in questions)
    assert RetrieveParams(shipped="legal_statutes.jsonl").path.endswith("legal_statutes.jsonl")
    for bad in ({"shipped": "nothing.jsonl"}, {}, {"shipped": "legal_statutes.jsonl",
                                                    "chunks": __file__}):  # fmt: skip
        with pytest.raises(ValueError):
            RetrieveParams(**bad)


def check_cited_records(records: list[dict], text_of) -> None:
    statutes = {s["chunk_id"]: s["text"] for s in shipped("legal_statutes.jsonl")}
    for record in records:
        check = record["verification"]
        ids = [a["id"] for a in record["reference"]]
        assert check["kind"] == "statute_citations" and check["verified"]
        assert check["retrieved"] == ids == [r["chunk_id"] for r in record["retrieved"]]
        assert check["cited"] and set(check["cited"]) <= set(ids) and not check["unknown"]
        assert all(statutes[a["id"]] == a["text"] for a in record["reference"])
        assert check["text"] == text_of(record)


def test_disc_law_syllogisms_survive_a_kill(tmp_path):
    """The disc_law recipe on 2 shipped questions, killed (SIGKILL) after one answer and
    resumed; every kept syllogism's major premise cites a retrieved statute."""
    args = ["disc_law", *SMALL, "--set", "steps[0].params.count=2",
            "--set", "steps[2].params.max_tokens=160"]  # fmt: skip
    records, summary, _ = resume_after_kill(tmp_path, *args, after_calls=1)
    steps = {s["name"]: s for s in summary["steps"]}
    syllogisms = steps["syllogism"]
    assert syllogisms["rows_in"] == 2
    assert syllogisms["rows_out"] + sum(syllogisms["errors"].values()) == 2
    assert set(syllogisms["errors"]) <= {"format", "uncited_statute"}
    check_cited_records(records, lambda r: r["major_premise"])
    for record in records:
        assert record["output"].splitlines()[0] == f"Major premise: {record['major_premise']}"
        assert record["minor_premise"] and record["conclusion"]
        assert record["messages"][0]["content"] == record["instruction"]
        assert record["instruction"].startswith("Related legal articles:\n[")
        assert record["instruction"].endswith(f"Question: {record['question']}")
    # the records re-verify from themselves; a citation of an article not retrieved does not
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    done = run_cli("verify", str(tmp_path / "data.jsonl"), "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["agreed"] == len(records)
    forged = copy.deepcopy(records[0])
    forged["verification"]["text"] += " See also [U.S. Const. amend. XXVII]."
    lying = write_jsonl(tmp_path / "forged.jsonl", [forged])
    done = run_cli("verify", str(lying), "--json", cwd=tmp_path, env=env)
    assert done.returncode == 1 and json.loads(done.stdout)["agreed"] == 0


def test_lawyer_llama_explanations_cite_and_mmlu_law_is_dropped(tmp_path):
    """lawyer_llama on a shipped question and an MMLU professional_law question: the latter
    is decontaminated away; a kept explanation cites only retrieved articles."""
    law = next(json.loads(line) for line in
               (resources.files("synthaug") / "data" / "benchmarks" / "mmlu.jsonl").open()
               if '"professional_law' in line)  # fmt: skip
    rows = [shipped("legal_questions.jsonl")[0], {"question": law["question"]}]
    write_jsonl(tmp_path / "questions.jsonl", rows)
    done = run_cli("run", "lawyer_llama", *SMALL, "--set", "steps[0].params.path=questions.jsonl",
                   "--set", "steps[2].params.max_tokens=128",
                   "--out", "data.jsonl", "--quiet", cwd=tmp_path,
                   env={"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = read_jsonl(tmp_path / "data.jsonl")
    steps = {s["name"]: s for s in summary_of(tmp_path / "data.jsonl")["steps"]}
    explained = steps["explain"]["rows_out"]
    assert explained + sum(steps["explain"]["errors"].values()) == 2
    assert explained == len(records) + 1, "the MMLU question was not decontaminated"
    assert records and all(r["question"] != law["question"] for r in records)
    check_cited_records(records, lambda r: r["output"])
    for record in records:
        assert record["messages"][1]["content"] == record["output"]


def test_consultations_are_multi_turn_and_cite_in_every_lawyer_turn(tmp_path):
    args = ["run", "legal_consultation", *SMALL, "--set", "steps[0].params.count=2",
            "--set", "steps[2].params.max_tokens=128", "--out", "data.jsonl", "--quiet"]  # fmt: skip
    done = run_cli(*args, cwd=tmp_path, env={"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")})
    assert done.returncode == 0, done.stderr
    records = read_jsonl(tmp_path / "data.jsonl")
    failed = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(failed) if failed.exists() else []
    assert len(records) + len(errors) == 2 and records, errors
    assert {error_of(e)["kind"] for e in errors} <= {"format", "uncited_article"}
    questions = {q["question"] for q in shipped("legal_questions.jsonl")}
    check_cited_records(records, lambda r: "\n".join(
        t["content"] for t in r["dialogue"] if t["role"] == "assistant"))  # fmt: skip
    for record in records:
        system, first, *rest = record["messages"]
        assert system["role"] == "system" and system["content"].startswith("Related legal")
        assert (
            first == {"role": "user", "content": record["question"]}
            and first["content"] in questions
        )
        lawyer = [t for t in rest if t["role"] == "assistant"]
        assert rest[0]["role"] == "assistant" and all(cited_articles(t["content"]) for t in lawyer)
