"""WizardMath (wizardmath.evolve, wizardmath.rank, and prm.label in judge mode as its PRM
labels): the evolution draws and chains, the IRM ranking, and the PRM step labels, checked
on real outputs of the embedded model (small counts; the checks are on structure)."""

from __future__ import annotations

from conftest import read_jsonl, run_recipe_twice

from synthaug.methods.reasoning.prm import JUDGE_LABELS, split_steps
from synthaug.methods.reasoning.problems import load_problems
from synthaug.methods.reasoning.wizardmath import IRM_ASPECTS, OPERATIONS, clean, evolution, failure

DOWNWARD_RECIPE = """\
name: wizardmath_downward
seed: 0
backend:
  type: local
steps:
  - name: problems
    method: math_problems
  - name: evolve
    method: wizardmath.evolve
    params:
      directions: [downward]
      rounds: 2
      max_tokens: 40
      include_seeds: false
"""


def test_evolution_draws_a_direction_then_one_of_its_operations():
    drawn = [evolution(seed, ["upward", "downward"]) for seed in range(60)]
    assert {d for d, _ in drawn} == {"upward", "downward"}
    assert {o for _, o in drawn} == {o for ops in OPERATIONS.values() for o in ops}
    assert all(operation in OPERATIONS[direction] for direction, operation in drawn)
    assert evolution(7, ["upward", "downward"]) == evolution(7, ["upward", "downward"])
    assert {evolution(seed, ["downward"])[0] for seed in range(20)} == {"downward"}


def test_clean_and_failed_evolutions():
    assert clean("#New Problem#: Tom has 3 apples.") == "Tom has 3 apples."
    assert clean("  Rewritten problem: A B\n") == "A B"
    assert clean("Tom's problem: 3 apples") == "Tom's problem: 3 apples"
    assert failure("", "a") == "empty_evolution"
    assert failure("Tom has  3 apples.", "tom has 3 apples.") == "unchanged"
    assert failure("Tom has 4 apples.", "Tom has 3 apples.") is None


def test_downward_evolutions_are_marked_and_chain_from_their_parent(tmp_path):
    recipe = tmp_path / "downward.yaml"
    recipe.write_text(DOWNWARD_RECIPE, encoding="utf-8")
    records = run_recipe_twice(tmp_path, str(recipe), "--limit", "1")
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    rows = sorted(records + errors, key=lambda r: r["evol_round"])
    assert [r["evol_round"] for r in rows] == [1, 2]  # one evolution (or failure) per round
    seed = load_problems(None, 1)[0]["question"]
    parent_question, parent_id = seed, None
    for row in rows:
        assert row["evol_direction"] == "downward"
        assert row["evol_operation"] in OPERATIONS["downward"]
        assert row["seed_question"] == seed and row["answer"] is None
        assert row["evol_parent"] == parent_question  # rewritten from the previous success
        if parent_id is not None:
            assert row["_meta"]["parents"] == [parent_id]
        if "error" in row["_meta"]:
            assert row["_meta"]["error"]["kind"] == failure(row["question"], parent_question)
            continue
        assert failure(row["question"], parent_question) is None
        parent_question, parent_id = row["question"], row["_meta"]["id"]
    assert records  # at least one evolution succeeded


def test_wizardmath_recipe_labels_steps_of_seed_and_evolved_problems(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "wizardmath",
        "--limit", "1",
        "--set", "steps[1].params.rounds=1",
        "--set", "steps[1].params.max_tokens=40",
        "--set", "steps[2].params.max_tokens=40",
    )  # fmt: skip
    seed = load_problems(None, 1)[0]
    seeds = [r for r in records if "evol_round" not in r]
    evolved = [r for r in records if "evol_round" in r]
    assert len(seeds) == 1 and seeds[0]["question"] == seed["question"]
    assert seeds[0]["answer"] == str(seed["answer"])  # the seed keeps its gold answer
    assert len(evolved) <= 1
    for record in evolved:
        assert record["evol_parent"] == seed["question"] and record["answer"] is None
        assert record["evol_operation"] in OPERATIONS[record["evol_direction"]]
    for record in records:  # the PRM labels: one judge label per step of the sampled solution
        assert record["solution_source"] == "sampled" and record["label_rule"] == "judge"
        assert record["steps"] == split_steps(record["solution"])
        assert len(record["labels"]) == len(record["ratings"]) == len(record["steps"]) >= 1
        for label, rating in zip(record["labels"], record["ratings"], strict=True):
            assert label in JUDGE_LABELS and rating == JUDGE_LABELS[label]
        assert "verification" not in record  # the judge's labels are an opinion, not a check


def test_wizardmath_irm_recipe_ranks_sibling_evolutions(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "wizardmath_irm",
        "--limit", "1",
        "--set", "steps[1].params.candidates=3",
        "--set", "steps[1].params.max_tokens=40",
    )  # fmt: skip
    assert len(records) == 1
    record = records[0]
    assert record["question"] == load_problems(None, 1)[0]["question"]
    assert record["irm_aspects"] == list(IRM_ASPECTS)
    evolved = record["evolved"]
    assert 2 <= len(evolved) <= 3
    assert sorted(record["ranking"]) == list(range(len(evolved)))  # a full ranking
    texts = [e["question"] for e in evolved]
    assert len(set(texts)) == len(texts)
    for candidate in evolved:
        assert candidate["operation"] in OPERATIONS[candidate["direction"]]
        assert failure(candidate["question"], record["question"]) is None
    # one request per candidate, then one choice per rank but the last
    assert len(record["_meta"]["request"]) == 3 + len(evolved) - 1
