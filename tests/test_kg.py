"""Knowledge graphs: entity normalisation, triples grounded in their chunk with offsets, the
networkx graph and its unique-answer paths, the AutoKG extractor and reviewer, multi-hop
questions and HuaTuo instructions with their verification (a corrupted record fails
``reverify``); the huatuo_kg recipe, multi-hop questions over a triples file and extraction
from the packaged document on the embedded model, ``synthaug verify`` agreeing."""

from __future__ import annotations

import asyncio
import copy
import json
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, write_jsonl

from synthaug.engine.step import RowError, StepContext
from synthaug.knowledge.entities import candidate_entities, entity_key, mentions, nearest_pair
from synthaug.knowledge.graph import build_graph, reached, sample_paths
from synthaug.methods.grounded.autokg import Extract, Review, spans_schema
from synthaug.methods.grounded.huatuo import Instruct
from synthaug.methods.grounded.multihop import MultiHop, Paths
from synthaug.records import META, error_of
from synthaug.verify.evidence import kg_answer_verdict, kg_path_verdict, reverify
from synthaug.verify.sandbox import Sandbox

CHUNK = (
    "To prepare a call interface object, use the function\nffi_prep_cif. ffi_prep_cif returns "
    "a libffi status code, of type ffi_status. To call a function using an initialized "
    "ffi_cif, use the ffi_call function."
)


def client(reply: str):
    """A client answering every request with ``reply`` (for the parsing of replies only)."""

    async def complete(request):
        return SimpleNamespace(text=reply, choices=[SimpleNamespace(finish_reason="stop")])

    return SimpleNamespace(
        complete=complete, key=lambda request: "key", backend=SimpleNamespace(describe=lambda: "m")
    )


def row(**fields) -> dict:
    base = {"text": CHUNK, "chunk_id": "d:0", "doc_id": "d",
            "source": {"path": "x.html", "page": None, "start": 100, "end": 100 + len(CHUNK)}}  # fmt: skip
    return {**base, **fields, META: {"id": fields.pop("id", "row-1"), "parents": [],
                                      "step": "t", "method": "t"}}  # fmt: skip


def run(step, record, reply: str = "") -> list[dict]:
    ctx = StepContext(llm=client(reply), run_seed=0, step_name="t")
    return asyncio.run(step.process(record, ctx))


def test_entity_names_normalise_and_are_found_in_text():
    assert entity_key("The  ffi_cif.") == entity_key("FFI_CIF") == "ffi_cif"
    assert entity_key("a") == "a" and entity_key("“Call InterFace”") == "call interface"
    assert mentions("It returns an FFI_STATUS code", "ffi_status")
    assert not mentions("It returns a code", "ffi_status")
    start, end = nearest_pair("ffi_prep_cif", "ffi_status", CHUNK)
    assert CHUNK[start:end] == "ffi_prep_cif returns a libffi status code, of type ffi_status"
    assert nearest_pair("ffi_prep_cif", "ffi_closure", CHUNK) is None
    found = candidate_entities(CHUNK)
    assert {"ffi_prep_cif", "ffi_status", "ffi_cif", "ffi_call"} <= set(found)
    assert "To" not in found and all(name in CHUNK for name in found)


def test_extract_keeps_grounded_triples_with_offsets_and_drops_the_rest():
    reply = json.dumps({"triples": [
        {"subject": "ffi_prep_cif", "relation": "returns", "object": "ffi_status"},
        {"subject": "ffi_prep_cif", "relation": "returns", "object": "ffi_status"},
        {"subject": "ffi_call", "relation": "frees", "object": "ffi_closure"},
    ]})  # fmt: skip
    kept, lost = run(Extract(), row(), reply)
    assert (kept["subject"], kept["relation"], kept["object"]) == (
        "ffi_prep_cif", "returns", "ffi_status"
    )  # fmt: skip
    span = kept["evidence_span"]
    assert CHUNK[span["start"] : span["end"]] == kept["evidence"]
    assert kept["triple_source"]["start"] == 100 + span["start"] and kept["chunk_id"] == "d:0"
    assert (
        error_of(lost)["kind"] == "ungrounded_triple" and "ffi_closure" in error_of(lost)["message"]
    )
    with pytest.raises(RowError, match="no complete triple"):
        run(Extract(), row(), json.dumps({"triples": [{"subject": "x"}]}))
    spans = Extract(constrain="spans", max_triples=4)
    schema = spans.request(row(), 0).json_schema["properties"]["facts"]
    subjects = list(schema["properties"])
    assert subjects == candidate_entities(CHUNK, 4)
    for subject in subjects:
        assert subject not in schema["properties"][subject]["properties"]["object"]["enum"]
    facts = {"facts": {"ffi_prep_cif": {"relation": "returns", "object": "ffi_status"}}}
    (fact,) = run(spans, row(), json.dumps(facts))
    assert fact["subject"] == "ffi_prep_cif" and fact["object"] == "ffi_status"
    assert spans_schema(["a", "b"])["properties"]["facts"]["required"] == ["a", "b"]


def test_review_accepts_rewording_or_rejects():
    triple = row(subject="ffi_prep_cif", relation="gives", object="ffi_status")
    (kept,) = run(Review(), triple, json.dumps({"verdict": "accept", "relation": "returns"}))
    assert kept["relation"] == "returns" and kept["review"]["relation_before"] == "gives"
    with pytest.raises(RowError) as raised:
        run(Review(), triple, json.dumps({"verdict": "reject", "relation": "gives"}))
    assert raised.value.kind == "rejected_triple"


TRIPLES = [
    ("ffi_prep_cif", "initializes", "The ffi_cif"),
    ("ffi_cif", "describes", "signature"),
    ("ffi_prep_cif", "returns", "ffi_status"),
    ("ffi_status", "has value", "FFI_OK"),
    ("ffi_status", "has value", "FFI_BAD_ABI"),
    ("ffi_call", "uses", "ffi_cif"),
]


def triple_rows() -> list[dict]:
    return [row(subject=s, relation=r, object=o, evidence=f"{s} {r} {o}", id=f"t{i}")
            for i, (s, r, o) in enumerate(TRIPLES)]  # fmt: skip


def test_graph_merges_names_and_samples_paths_with_one_answer():
    graph = build_graph([dict(zip(("subject", "relation", "object"), t, strict=True))
                         for t in TRIPLES])  # fmt: skip
    assert graph.has_edge("ffi_prep_cif", "ffi_cif") and graph.nodes["ffi_cif"]["name"] in (
        "ffi_cif", "The ffi_cif"
    )  # fmt: skip
    assert reached(graph, "ffi_prep_cif", ["returns", "has value"]) == {"ffi_ok", "ffi_bad_abi"}
    paths = sample_paths(graph, [2], 10, seed=0)
    ends = {(p[0]["subject"], p[-1]["object"]) for p in paths}
    assert ends == {("ffi_prep_cif", "signature"), ("ffi_call", "signature")}  # FFI_OK: not one
    assert sample_paths(graph, [2], 10, seed=0) == paths


def test_paths_step_and_multihop_question_verified_or_dropped(tmp_path):
    async def transform(rows, **params):
        async def source():
            for r in rows:
                yield r

        ctx = StepContext(llm=client(""), run_seed=0, step_name="t")
        return [r async for r in Paths(**params).transform(source(), ctx)]

    saved = tmp_path / "graph.json"
    paths = asyncio.run(transform(triple_rows(), hops=[2], count=5, save=str(saved)))
    assert len(paths) == 2 and json.loads(saved.read_text())["edges"]
    path = next(p for p in paths if p["start"] == "ffi_prep_cif")
    assert path[META]["parents"] == ["t0", "t1"] and path["answer"] == "signature"
    assert path["path"][0]["evidence"] == "ffi_prep_cif initializes The ffi_cif"
    good = "What does the object that ffi_prep_cif initializes describe?"
    (record,) = run(MultiHop(), path, json.dumps({"question": good}))
    assert record["verification"]["verified"] is True
    assert record["messages"][1]["content"] == "signature"
    sandbox = Sandbox()
    assert asyncio.run(reverify(record["verification"], sandbox)) is True
    leak = "Which signature does ffi_prep_cif set up?"
    (bad,) = run(MultiHop(), path, json.dumps({"question": leak}))
    assert error_of(bad)["kind"] == "answer_leak" and bad["verification"]["verified"] is False
    for corrupt in ("answer", "hop", "evidence", "verdict"):
        evidence = copy.deepcopy(record["verification"])
        if corrupt == "answer":
            evidence["answer"] = "ffi_status"
        elif corrupt == "hop":
            evidence["path"][1]["subject"] = "ffi_abi"
        elif corrupt == "evidence":
            evidence["path"][0]["evidence"] = "ffi_prep_cif prepares it"
        else:
            evidence = {**kg_path_verdict(leak, "signature", path["path"]), "verified": True}
        assert asyncio.run(reverify(evidence, sandbox)) is False, corrupt


def test_huatuo_answer_must_state_the_object():
    triple = row(subject="ffi_prep_cif", relation="returns", object="ffi_status")
    reply = {"question": "What does ffi_prep_cif return?", "answer": "It returns an ffi_status."}
    (kept,) = run(Instruct(), triple, json.dumps(reply))
    assert kept["verification"] == kg_answer_verdict(reply["answer"], kept["knowledge"])
    assert kept["verification"]["verified"] and kept["messages"][0]["content"] == reply["question"]
    (lost,) = run(Instruct(), triple, json.dumps({**reply, "answer": "A status code."}))
    assert error_of(lost)["kind"] == "object_not_in_answer"
    forged = {**kept["verification"], "answer": "A status code."}
    assert asyncio.run(reverify(forged, Sandbox())) is False


@pytest.fixture(scope="module")
def huatuo_run(tmp_path_factory) -> SimpleNamespace:
    cwd = tmp_path_factory.mktemp("huatuo")
    out = cwd / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")}
    done = run_cli("run", "huatuo_kg", "--limit", "4", "--out", str(out), "--quiet",
                   "--set", "steps[1].params.max_tokens=128", cwd=cwd, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    failed = out.with_name("data.errors.jsonl")
    return SimpleNamespace(cwd=cwd, out=out, env=env, records=read_jsonl(out),
                           errors=read_jsonl(failed) if failed.exists() else [])  # fmt: skip


def test_huatuo_recipe_and_verify_agree(huatuo_run):
    records, errors = huatuo_run.records, huatuo_run.errors
    assert len(records) + len(errors) == 4 and records
    assert {error_of(e)["kind"] for e in errors} <= {"object_not_in_answer", "format"}
    for record in records:
        assert mentions(record["output"], record["object"])
        assert record["verification"]["kind"] == "kg_answer"
    done = run_cli("verify", str(huatuo_run.out), "--json", cwd=huatuo_run.cwd, env=huatuo_run.env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == report["agreed"] == len(records)


def test_rankrag_records_label_relevance_from_the_oracle():
    from synthaug.methods.grounded.rankrag import FIND_ALL, RELEVANCE, Assemble

    distractors = [{"chunk_id": f"e:{i}", "doc_id": "e", "source": {"path": "y"}, "text": f"D{i}"}
                   for i in range(4)]  # fmt: skip
    question = row(question="What does ffi_prep_cif return?", answer="ffi_status",
                   distractors=distractors)  # fmt: skip
    records = run(Assemble(negatives=3), question)
    tasks = [r["task"] for r in records]
    assert tasks == ["rag_qa", "rag_ranking"] + ["context_ranking"] * 4
    qa, ranking, *pointwise = records
    assert len(qa["passages"]) == 4 and "distractors" not in qa
    gold = next(i for i, p in enumerate(qa["passages"], 1) if p["chunk_id"] == "d:0")
    assert qa["messages"][0]["content"].endswith("\n\nWhat does ffi_prep_cif return?")
    assert f"Passage {gold}: {CHUNK}" in qa["messages"][0]["content"]
    assert qa["messages"][1]["content"] == "ffi_status"
    assert ranking["label"] == f"Passage {gold}"
    assert ranking["messages"][0]["content"].endswith(
        FIND_ALL.format(question=question["question"])
    )
    labels = {r["passages"][0]["chunk_id"]: r["label"] for r in pointwise}
    assert labels == {"d:0": "True", "e:0": "False", "e:1": "False", "e:2": "False"}
    assert all(r["messages"][0]["content"].endswith(RELEVANCE.format(question=question["question"]))
               for r in pointwise)  # fmt: skip
    assert len({r[META]["id"] for r in records}) == 6


QUESTION_ERRORS = {"answer_leak", "start_not_named", "ungrounded_hop", "wrong_answer",
                   "broken_chain"}  # fmt: skip
# real facts that chain (Wikidata-style relations), for graph paths of 2 and 3 hops
CHAIN = [
    ("Mona Lisa", "creator", "Leonardo da Vinci"),
    ("Leonardo da Vinci", "place of birth", "Vinci"),
    ("Vinci", "located in", "Tuscany"),
    ("Hamlet", "author", "William Shakespeare"),
    ("William Shakespeare", "place of birth", "Stratford-upon-Avon"),
    ("Stratford-upon-Avon", "located in", "Warwickshire"),
]


@pytest.fixture(scope="module")
def multihop_run(tmp_path_factory) -> SimpleNamespace:
    """Triples file -> kg.paths -> kg.multihop on the embedded model (2 paths)."""
    cwd = tmp_path_factory.mktemp("kg_multihop")
    triples = cwd / "triples.jsonl"
    triples.write_text("".join(json.dumps(dict(zip(("subject", "relation", "object"), t,
                                                   strict=True))) + "\n" for t in CHAIN))  # fmt: skip
    recipe = {"name": "kg_paths_test", "seed": 0,
              "backend": {"type": "local", "parallel": 2, "deterministic": True, "threads": 1},
              "steps": [{"method": "kg.triples", "params": {"path": str(triples)}},
                        {"method": "kg.paths", "params": {"hops": [2, 3], "count": 2,
                                                          "save": str(cwd / "graph.json")}},
                        {"method": "kg.multihop", "params": {"max_tokens": 64}}]}  # fmt: skip
    (cwd / "recipe.yaml").write_text(json.dumps(recipe))
    failed = cwd / "data.errors.jsonl"
    done = run_cli("run", "recipe.yaml", "--out", "data.jsonl", "--quiet", cwd=cwd,
                   env={"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return SimpleNamespace(cwd=cwd, out=cwd / "data.jsonl", records=read_jsonl(cwd / "data.jsonl"),
                           errors=read_jsonl(failed) if failed.exists() else [],
                           env={"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")})  # fmt: skip


def test_multihop_questions_over_graph_paths_reverify(multihop_run):
    graph = json.loads((multihop_run.cwd / "graph.json").read_text())
    assert len(graph["nodes"]) == 8 and len(graph["edges"]) == 6
    everything = multihop_run.records + multihop_run.errors
    assert len(everything) == 2 and {r["hops"] for r in everything} == {2, 3}
    assert {error_of(e)["kind"] for e in multihop_run.errors} <= QUESTION_ERRORS
    for record in everything:
        path = record["path"]
        assert path[0]["subject"] in {t[0] for t in CHAIN}
        assert record["answer"] == path[-1]["object"] in {t[2] for t in CHAIN}
        assert record["verification"]["verified"] is (record in multihop_run.records)
    # every question, kept or dropped, re-verifies from the record alone; a forged verdict fails
    both = write_jsonl(multihop_run.cwd / "both.jsonl", everything)
    done = run_cli("verify", str(both), "--json", cwd=multihop_run.cwd, env=multihop_run.env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == report["agreed"] == 2
    forged = copy.deepcopy(everything[0])
    forged["verification"]["verified"] = not forged["verification"]["verified"]
    lying = write_jsonl(multihop_run.cwd / "forged.jsonl", [forged])
    done = run_cli("verify", str(lying), "--json", cwd=multihop_run.cwd, env=multihop_run.env)
    assert done.returncode == 1 and json.loads(done.stdout)["agreed"] == 0


def test_extraction_on_the_embedded_model_keeps_provenance(tmp_path):
    """kg.extract (spans) and kg.review on the first 2 chunks of the packaged document,
    killed (SIGKILL) after 2 answers and resumed."""
    recipe = {"name": "kg_extract_test", "seed": 0,
              "backend": {"type": "local", "parallel": 2, "deterministic": True, "threads": 1},
              "steps": [{"method": "ingest", "params": {"html": "main"}},
                        {"method": "kg.extract", "params": {"constrain": "spans",
                                                            "max_triples": 4}},
                        {"method": "kg.review", "params": {"reword": False}}]}  # fmt: skip
    (tmp_path / "recipe.yaml").write_text(json.dumps(recipe))
    records, _, _ = resume_after_kill(tmp_path, "recipe.yaml", "--limit", "2", after_calls=2)
    failed = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(failed) if failed.exists() else []
    kinds = {"ungrounded_triple", "no_triples", "malformed_output", "rejected_triple",
             "malformed_judgement"}  # fmt: skip
    assert {error_of(e)["kind"] for e in errors} <= kinds
    for record in records + [e for e in errors if error_of(e)["kind"] == "rejected_triple"]:
        span = record["evidence_span"]
        assert record["text"][span["start"] : span["end"]] == record["evidence"]
        assert mentions(record["evidence"], record["subject"])
        assert mentions(record["evidence"], record["object"])
        assert record["subject"] != record["object"]
        source = record["triple_source"]
        assert source["start"] - record["source"]["start"] == span["start"]
