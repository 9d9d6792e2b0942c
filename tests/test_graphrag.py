"""GraphRAG: Leiden communities of a knowledge graph, community reports, activity-centred
global questions and map-reduce answers whose report citations re-verify."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, write_jsonl

from synthaug.knowledge.communities import at_level, detect_communities
from synthaug.knowledge.graph import build_graph
from synthaug.records import error_of
from synthaug.verify.communities import check_citations, cited_reports, reference

# two topics joined by one weak link: astronomy and programming languages
TRIPLES = [
    ("Jupiter", "orbits", "the Sun"), ("Saturn", "orbits", "the Sun"),
    ("Mars", "orbits", "the Sun"), ("Europa", "orbits", "Jupiter"),
    ("Titan", "orbits", "Saturn"), ("Phobos", "orbits", "Mars"),
    ("Galileo Galilei", "discovered", "Europa"), ("Galileo Galilei", "observed", "Jupiter"),
    ("Python", "created by", "Guido van Rossum"), ("Python", "influenced by", "ABC"),
    ("CPython", "implements", "Python"), ("CPython", "written in", "C"),
    ("C", "created by", "Dennis Ritchie"), ("Unix", "written in", "C"),
    ("Dennis Ritchie", "co-created", "Unix"), ("Ken Thompson", "co-created", "Unix"),
    ("Guido van Rossum", "admired", "Galileo Galilei"),
]  # fmt: skip
LONE = [("Mount Everest", "located in", "the Himalayas")]


def graph_of(triples):
    return build_graph([{"subject": s, "relation": r, "object": o, "triple_id": f"t{i}"}
                        for i, (s, r, o) in enumerate(triples)])  # fmt: skip


def test_communities_partition_the_largest_component_deterministically():
    graph = graph_of(TRIPLES + LONE)
    communities = at_level(detect_communities(graph, max_cluster_size=10), None)
    assert communities == at_level(detect_communities(graph, max_cluster_size=10), None)
    members = [e for c in communities for e in c.entities]
    assert len(members) == len(set(members))  # each entity in one community
    assert "mount everest" not in members  # not in the largest connected component
    assert len(members) == graph.number_of_nodes() - 2
    assert all(len(c.entities) <= 10 for c in communities) and len(communities) >= 2
    # the two topics do not share a community
    where = {e: c.id for c in communities for e in c.entities}
    assert where["jupiter"] != where["python"] and where["europa"] == where["jupiter"]
    everything = detect_communities(graph, largest_component=False)
    assert {e for c in everything for e in c.entities} == set(graph.nodes)
    hierarchy = detect_communities(graph, max_cluster_size=3)
    small = at_level(hierarchy, None)
    assert len(small) > len(communities)  # the larger clusters were clustered again
    assert {c.level for c in small} == {0, 1} and all(
        c.parent is not None for c in small if c.level
    )


def test_a_level_gives_each_entity_its_deepest_community_up_to_that_level():
    graph = graph_of(TRIPLES)
    hierarchy = detect_communities(graph, max_cluster_size=3)
    by_id = {c.id: c for c in hierarchy}
    for level in (0, 1, None):
        chosen = at_level(hierarchy, level)
        members = [e for c in chosen for e in c.entities]
        assert sorted(members) == sorted(graph.nodes)  # a partition of the component
        assert level is None or all(c.level <= level for c in chosen)
    coarse = at_level(hierarchy, 0)
    assert coarse == [c for c in hierarchy if c.level == 0]
    assert len(at_level(hierarchy, 1)) > len(coarse)
    for community in at_level(hierarchy, 1):  # a split parent is replaced by its children
        if community.parent is not None:
            assert set(community.entities) <= set(by_id[community.parent].entities)


def test_citations_are_written_and_checked_as_graphrag_references():
    assert reference([1, 4]) == "[Data: Reports (1, 4)]"
    assert reference(list(range(7))) == "[Data: Reports (0, 1, 2, 3, 4, +more)]"
    answer = "Moons orbit planets [Data: Reports (0, 2)]. C runs Unix [Data: Reports (2, 5)]."
    assert cited_reports(answer) == [0, 2, 5]
    check = check_citations(answer, reports=[0, 1, 2], relevant=[0, 2])
    assert check == {"cited": [0, 2, 5], "unknown": [5], "unsupported": [], "verified": False}
    check = check_citations("Moons orbit planets [Data: Reports (0, 1)].", [0, 1, 2], [0])
    assert check["unsupported"] == [1] and not check["verified"]
    assert check_citations("Moons orbit planets [Data: Reports (0)].", [0, 1], [0])["verified"]
    assert not check_citations("Moons orbit planets.", [0, 1], [0])["verified"]


@pytest.fixture(scope="module")
def graphrag_run(tmp_path_factory) -> SimpleNamespace:
    """Triples -> communities -> reports -> 1 x 1 x 2 questions -> answers on the embedded
    model, killed (SIGKILL) after 2 answers and resumed."""
    cwd = tmp_path_factory.mktemp("graphrag")
    triples = cwd / "triples.jsonl"
    triples.write_text("".join(json.dumps(dict(zip(("subject", "relation", "object"), t,
                                                   strict=True))) + "\n" for t in TRIPLES))  # fmt: skip
    recipe = {"name": "graphrag_test", "seed": 0,
              "backend": {"type": "local", "parallel": 2, "deterministic": True,
                          "threads": 1},
              "steps": [{"name": "triples", "method": "kg.triples",
                         "params": {"path": str(triples)}},
                        {"name": "communities", "method": "graphrag.communities",
                         "params": {"save": str(cwd / "graph.json")}},
                        {"name": "reports", "method": "graphrag.report",
                         "params": {"max_findings": 1, "max_chars": 100}},
                        {"name": "corpus", "method": "graphrag.corpus"},
                        {"name": "questions", "method": "graphrag.questions",
                         "params": {"users": 1, "tasks": 1, "questions": 2, "max_chars": 80}},
                        {"name": "answers", "method": "graphrag.answer",
                         "params": {"max_statements": 2, "max_chars": 100}}]}  # fmt: skip
    (cwd / "recipe.yaml").write_text(json.dumps(recipe))
    records, summary, _ = resume_after_kill(cwd, "recipe.yaml", after_calls=2)
    failed = cwd / "data.errors.jsonl"
    return SimpleNamespace(cwd=cwd, env={"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")},
                           records=records, summary=summary,
                           errors=read_jsonl(failed) if failed.exists() else [])  # fmt: skip


def test_global_answers_cite_the_communities_they_rest_on(graphrag_run):
    answers = graphrag_run.records + [
        e for e in graphrag_run.errors if error_of(e)["kind"] == "uncited_answer"
    ]
    skipped = [e for e in graphrag_run.errors if error_of(e)["kind"] == "no_relevant_reports"]
    assert len(answers) + len(skipped) == 2  # one user, one task, two questions
    assert graphrag_run.records, graphrag_run.errors
    for record in graphrag_run.records:
        check = record["verification"]
        assert check["kind"] == "community_citations" and check["verified"]
        assert set(check["cited"]) <= set(check["relevant"]) <= set(check["reports"])
        assert [c["id"] for c in record["communities"]] == check["cited"]
        assert "[Data: Reports (" in record["answer"]
        assert record["messages"][1]["content"] == record["answer"]
        assert record["user"] and record["task"] and record["question"]
        assert "reports" not in record and "description" not in record
    # the kept answers re-verify from the record alone; a citation of another report does not
    kept = write_jsonl(graphrag_run.cwd / "kept.jsonl", graphrag_run.records)
    done = run_cli("verify", str(kept), "--json", cwd=graphrag_run.cwd, env=graphrag_run.env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == report["agreed"] == len(graphrag_run.records)
    forged = copy.deepcopy(graphrag_run.records[0])
    other = max(forged["verification"]["reports"]) + 1
    forged["verification"]["answer"] += f" More [Data: Reports ({other})]."
    lying = write_jsonl(graphrag_run.cwd / "forged.jsonl", [forged])
    done = run_cli("verify", str(lying), "--json", cwd=graphrag_run.cwd, env=graphrag_run.env)
    assert done.returncode == 1 and json.loads(done.stdout)["agreed"] == 0


def test_every_community_got_a_report(graphrag_run):
    steps = {s["name"]: s for s in graphrag_run.summary["steps"]}
    communities = at_level(detect_communities(graph_of(TRIPLES)), 2)
    assert steps["communities"]["rows_out"] == len(communities)
    reports = steps["reports"]
    assert reports["rows_out"] + sum(reports["errors"].values()) == len(communities)
    assert steps["corpus"]["rows_out"] == 1


def test_the_saved_graph_places_every_cited_community(graphrag_run):
    saved = json.loads((graphrag_run.cwd / "graph.json").read_text())
    hierarchy = detect_communities(graph_of(TRIPLES))
    placed = {(n["id"], int(level)): community for n in saved["nodes"]
              for level, community in n.get("communities", {}).items()}  # fmt: skip
    assert placed == {(e, c.level): c.id for c in hierarchy for e in c.entities}
    assert {e["relation"] for e in saved["edges"]} >= {"orbits", "written in"}
    for record in graphrag_run.records:  # the answer's communities are the graph's
        assert {c["id"] for c in record["communities"]} <= set(placed.values())
