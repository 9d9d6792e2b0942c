"""Genie and RAFT: parsing, the filters as row errors with reasons, quote verification (a
forged quote is never verified), the recipes end to end on the embedded model over the
packaged document, ``synthaug verify`` agreeing, and a RAFT run killed and resumed."""

from __future__ import annotations

import asyncio
import copy
import json
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, summary_of

from synthaug.engine.step import RowError, StepContext
from synthaug.errors import InputError
from synthaug.methods.grounded.genie import Faithfulness, Format, Quality, parse_pair
from synthaug.methods.grounded.raft import (
    Answer,
    Assemble,
    Distractors,
    cot_answer,
    sentences,
)
from synthaug.records import META, error_of
from synthaug.verify.evidence import quotes_verdict, reverify
from synthaug.verify.quotes import check_quotes, quotes_in
from synthaug.verify.sandbox import Sandbox

PASSAGE = (
    "The first thing you must do is create an ffi_cif object that\nmatches the signature of "
    "the function you wish to call.  This is a separate step because it is common to make "
    "multiple calls using a single ffi_cif."
)
GENIE_ERRORS = {"format", "unfaithful", "low_quality", "malformed_judgement"}
RAFT_ERRORS = {"format", "quote_not_in_oracle", "malformed_output"}


def client(reply: str):
    """A client answering every request with ``reply`` (for the parsing of replies only)."""

    async def complete(request):
        return SimpleNamespace(text=reply, choices=[SimpleNamespace(finish_reason="stop")])

    return SimpleNamespace(
        complete=complete, key=lambda request: "key", backend=SimpleNamespace(describe=lambda: "j")
    )


def context(reply: str = "") -> StepContext:
    return StepContext(llm=client(reply), run_seed=0, step_name="t")


def row(**fields) -> dict:
    base = {"text": PASSAGE, "chunk_id": "d:0", "doc_id": "d", "source": {"path": "x.html"}}
    return {**base, **fields, META: {"id": "row-1", "parents": [], "step": "t", "method": "t"}}


def run(step, record, reply: str = "") -> list[dict]:
    return asyncio.run(step.process(record, context(reply)))


def fails(step, record, reply: str = "") -> RowError:
    with pytest.raises(RowError) as raised:
        run(step, record, reply)
    return raised.value


def test_quotes_are_found_and_checked_with_whitespace_normalised():
    answer = (
        "Reasoning. ##begin_quote## create an ffi_cif object that matches\n the signature "
        "##end_quote## and ##begin_quote##  ##end_quote## then ##begin_quote##This is a "
        "separate step##end_quote##\n<ANSWER>: an ffi_cif"
    )
    assert quotes_in(answer) == [
        "create an ffi_cif object that matches the signature", "This is a separate step"
    ]  # fmt: skip
    assert check_quotes(answer, PASSAGE)["verified"] is True
    assert check_quotes("<ANSWER>: no quote at all", PASSAGE) == {
        "quotes": [], "missing": [], "verified": False
    }  # fmt: skip


def test_a_forged_quote_is_never_verified():
    forged = "##begin_quote## create an ffi_closure object ##end_quote##\n<ANSWER>: x"
    evidence = quotes_verdict(forged, PASSAGE)
    assert evidence["verified"] is False
    assert evidence["missing"] == ["create an ffi_closure object"]
    sandbox = Sandbox()
    assert asyncio.run(reverify(evidence, sandbox)) is True  # re-checking agrees: not verified
    claimed = {**evidence, "verified": True, "missing": []}  # a record that lies about it
    assert asyncio.run(reverify(claimed, sandbox)) is False
    genuine = quotes_verdict("##begin_quote## a single ffi_cif. ##end_quote##", PASSAGE)
    assert genuine["verified"] is True and asyncio.run(reverify(genuine, sandbox)) is True
    edited = copy.deepcopy(genuine)
    edited["answer"] = edited["answer"].replace("single", "double")
    assert asyncio.run(reverify(edited, sandbox)) is False
    moved = {**genuine, "passage": "another passage"}
    assert asyncio.run(reverify(moved, sandbox)) is False


def test_genie_format_parses_the_papers_form_or_says_what_is_missing():
    assert parse_pair("Question: Why a cif?\nAnswer: It is reused for\nmany calls.") == (
        "Why a cif?", "It is reused for many calls."
    )  # fmt: skip
    assert parse_pair("**Question:** Why?\n**Answer:** Because.")[1] == "Because."
    for reply, reason in [
        ("Why a cif? It is reused.", "no Question: and no Answer:"),
        ("Question: Why a cif?", "no Answer:"),
        ("Answer: reused.\nQuestion: why?", "the parts are out of order"),
        ("Question: Why?\nAnswer:   ", "empty answer"),
    ]:
        with pytest.raises(RowError) as raised:
            parse_pair(reply)
        assert raised.value.kind == "format" and reason in str(raised.value)
    short = fails(Format(min_answer_words=3), row(generation="Question: Why?\nAnswer: Reuse."))
    assert short.kind == "format" and "answer under 3 words" in str(short)
    (kept,) = run(Format(), row(generation="Question: Why a cif?\nAnswer: It is reused often."))
    assert kept["question"] == "Why a cif?" and kept["chunk_id"] == "d:0"


def test_genie_judges_drop_with_reasons_and_keep_provenance():
    pair = row(question="Why a separate step?", answer="Because one ffi_cif serves many calls.")
    assert fails(Faithfulness(), pair, '{"answer": "No"}').kind == "unfaithful"
    assert fails(Faithfulness(), pair, '{"answer": "').kind == "malformed_judgement"
    (faithful,) = run(Faithfulness(), pair, '{"answer": "Yes"}')
    assert faithful["faithfulness"] == {"entailed": True, "judge": "j"}
    low = fails(Quality(min_score=7), pair, '{"score": 6}')
    assert low.kind == "low_quality" and str(low) == "rated 6/10, below 7"
    (good,) = run(Quality(min_score=7), pair, '{"score": 8}')
    assert good["quality"]["score"] == 8 and good["source"] == {"path": "x.html"}
    assert good["messages"][0]["content"].startswith("Document: The first thing")
    assert good["messages"][1] == {"role": "assistant", "content": pair["answer"]}


def test_raft_answer_verifies_quotes_against_the_oracle_chunk():
    question = row(question="What must you create first?")
    free = "Step 1. ##begin_quote## create an ffi_cif object ##end_quote##\n<ANSWER>: an ffi_cif"
    (kept,) = run(Answer(), question, free)
    assert kept["answer"] == "an ffi_cif" and kept["verification"]["verified"] is True
    forged = free.replace("ffi_cif object", "ffi_closure object")
    (dropped,) = run(Answer(), question, forged)
    assert error_of(dropped)["kind"] == "quote_not_in_oracle"
    assert dropped["verification"]["verified"] is False
    assert fails(Answer(), question, "Just an ffi_cif.\n<ANSWER>: ffi_cif").kind == "format"
    assert fails(Answer(), question, "##begin_quote## a single ffi_cif ##end_quote##").kind == (
        "format"
    )
    reply = json.dumps({"reasoning": "It says so.", "quotes": [sentences(PASSAGE)[0]],
                        "answer": "an ffi_cif object"})  # fmt: skip
    (constrained,) = run(Answer(constrain="sentences"), question, reply)
    assert constrained["cot_answer"] == cot_answer("It says so.", [sentences(PASSAGE)[0]],
                                                   "an ffi_cif object")  # fmt: skip
    assert constrained["verification"]["verified"] is True
    request = Answer(constrain="sentences").requests(question, context())[0]
    enum = request.json_schema["properties"]["quotes"]["items"]["enum"]
    assert enum == sentences(PASSAGE) and all(check_quotes(f"##begin_quote##{s}##end_quote##",
                                                           PASSAGE)["verified"] for s in enum)  # fmt: skip


def chunks(count: int, docs: int = 2) -> list[dict]:
    words = ["cif", "closure", "abi", "type", "struct", "call", "return", "argument"]
    return [
        row(chunk_id=f"d{i % docs}:{i // docs}", doc_id=f"d{i % docs}",
            text=f"{words[i % 8]} {words[(i + 1) % 8]} {words[(i * 3) % 8]} text {i}")
        for i in range(count)
    ]  # fmt: skip


def test_distractors_exclude_the_chunk_and_its_neighbours():
    rows = chunks(12)
    chosen = Distractors(k=3).choose(rows, seed=1)
    for i, picks in enumerate(chosen):
        assert len(picks) == 4 and i not in picks and len(set(picks)) == 4
        doc, number = rows[i]["chunk_id"].split(":")
        for j in picks:
            other_doc, other = rows[j]["chunk_id"].split(":")
            assert other_doc != doc or abs(int(other) - int(number)) > 1

    async def transform(rows, **params):
        async def source():
            for r in rows:
                yield r

        step = Distractors(**params)
        return [r async for r in step.transform(source(), context())]

    out = asyncio.run(transform(rows, k=3, max_oracles=5))
    assert len(out) == 5 and all(len(r["distractors"]) == 4 for r in out)
    assert set(out[0]["distractors"][0]) == {"chunk_id", "doc_id", "source", "text"}
    with pytest.raises(InputError, match="fewer than k \\+ 1 = 4 distractors"):
        asyncio.run(transform(chunks(4, docs=1), k=3))


def test_assemble_keeps_the_oracle_with_probability_p():
    distractors = [{"chunk_id": f"e:{i}", "doc_id": "e", "source": {}, "text": f"D{i}"}
                   for i in range(4)]  # fmt: skip
    base = row(question="Q?", cot_answer="A", distractors=distractors)
    (always,) = run(Assemble(p=1.0), base)
    assert always["oracle_in_context"] is True and "distractors" not in always
    ids = [d["chunk_id"] for d in always["documents"]]
    assert len(ids) == 4 and "d:0" in ids
    assert always["instruction"].endswith("</DOCUMENT>\nQ?")
    assert always["instruction"].count("<DOCUMENT>") == 4
    (never,) = run(Assemble(p=0.0), base)
    assert never["oracle_in_context"] is False
    assert sorted(d["chunk_id"] for d in never["documents"]) == [f"e:{i}" for i in range(4)]
    assert never["messages"][1] == {"role": "assistant", "content": "A"}
    kept = 0
    for index in range(200):
        record = {**base, META: {**base[META], "id": f"r{index}"}}
        kept += run(Assemble(p=0.8), record)[0]["oracle_in_context"]
    assert 140 <= kept <= 180


@pytest.fixture(scope="module")
def genie_run(tmp_path_factory) -> SimpleNamespace:
    """The genie recipe on the first 2 chunks of the packaged document."""
    cwd = tmp_path_factory.mktemp("genie")
    out = cwd / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    done = run_cli("run", "genie", "--limit", "2", "--out", str(out), "--quiet",
                   "--set", "steps[1].params.max_tokens=128", cwd=cwd, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    errors = read_jsonl(out.with_name("data.errors.jsonl"))
    return SimpleNamespace(records=read_jsonl(out), errors=errors, summary=summary_of(out))


def test_genie_recipe_keeps_filtered_grounded_pairs(genie_run):
    records, errors = genie_run.records, genie_run.errors
    assert records, "no pair passed the filters"
    assert len(records) + len(errors) == 2
    for record in records:
        assert record["chunk_id"].startswith(record["doc_id"] + ":")
        assert record["source"]["path"].endswith("libffi-The-Basics.html")
        start, end = record["source"]["start"], record["source"]["end"]
        assert end - start == len(record["text"])
        assert record["faithfulness"]["entailed"] is True
        assert record["quality"]["score"] >= 7
        assert record["messages"][1]["content"] == record["answer"]
    for failed in errors:
        assert error_of(failed)["kind"] in GENIE_ERRORS and error_of(failed)["message"]
        assert failed["chunk_id"]
    assert {s["name"] for s in genie_run.summary["steps"]} >= {"format", "quality"}


@pytest.fixture(scope="module")
def raft_run(tmp_path_factory) -> SimpleNamespace:
    """The raft recipe, 2 oracle chunks with one question each, killed with SIGKILL after 2
    answers and resumed (``resume_after_kill`` checks the resume)."""
    cwd = tmp_path_factory.mktemp("raft")
    records = resume_after_kill(
        cwd, "raft", "--set", "steps[1].params.max_oracles=2", "--set",
        "steps[2].params.count=1", "--set", "steps[3].params.max_tokens=256", after_calls=2,
    )[0]  # fmt: skip
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    return SimpleNamespace(cwd=cwd, out=cwd / "data.jsonl", env=env, records=records)


def test_raft_records_quote_their_oracle_chunk(raft_run):
    records = raft_run.records
    failed = raft_run.out.with_name("data.errors.jsonl")
    errors = read_jsonl(failed) if failed.exists() else []
    assert len(records) + len(errors) == 2
    assert all(error_of(e)["kind"] in RAFT_ERRORS for e in errors)
    for record in records:
        evidence = record["verification"]
        assert evidence["kind"] == "quotes" and evidence["verified"] is True
        assert evidence["passage"] == record["text"] and evidence["answer"] == record["cot_answer"]
        assert all(quote in " ".join(record["text"].split()) for quote in evidence["quotes"])
        shown = [d["chunk_id"] for d in record["documents"]]
        assert len(shown) == 4 and (record["chunk_id"] in shown) == record["oracle_in_context"]
        assert record["messages"][0]["content"] == record["instruction"]
        assert record["instruction"].endswith(record["question"])


def test_verify_agrees_on_every_raft_record(raft_run):
    done = run_cli("verify", str(raft_run.out), "--json", cwd=raft_run.cwd, env=raft_run.env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == len(raft_run.records) == report["agreed"] >= 1
    assert report["by_kind"]["quotes"]["agreed"] == len(raft_run.records)


def test_too_few_chunks_for_raft_is_one_line(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("A short note: libffi calls a function through a prepared call interface.\n")
    out = tmp_path / "d.jsonl"
    done = run_cli("run", "raft", "--out", str(out), "--quiet",
                   "--set", f'steps[0].params.paths=["{note}"]', cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"synthaug: error: {note}: 1 chunks leave chunk ")
    assert line.endswith("fewer than k + 1 = 4 distractors (not itself or its neighbours): "
                         "give more documents, smaller chunks or a lower k")  # fmt: skip
    assert not out.exists()
