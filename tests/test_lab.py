"""LAB / InstructLab: tree validation, parsing and filtering on recorded outputs, and SDG on the
embedded model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import run_cli, run_recipe_twice

from synthaug.errors import InputError
from synthaug.methods.instruct.lab import (
    is_copy,
    parse_instruction,
    parse_knowledge,
    parse_score,
    parse_verdict,
)
from synthaug.methods.instruct.lab_tree import bundled_tree, load_tree

LEAF = """\
version: 2
task_description: Say hello in a given language.
created_by: tester
seed_examples:
"""
EXAMPLE = "  - question: Say hello in language {i}.\n    answer: Hello {i}.\n"


def leaf_file(root: Path, leaf: str, text: str) -> Path:
    path = root / leaf / "qna.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return path


def five_examples() -> str:
    return LEAF + "".join(EXAMPLE.format(i=i) for i in range(5))


# recorded from SmolLM2-135M: a grounded-skill instruction (dates leaf) and a knowledge Q&A
# (water-cycle leaf), both under their JSON schemas
GROUNDED_COPY = '{"context": "2017", "question": "What dates are mentioned?"}'
KNOWLEDGE_COPY = (
    '{ "question" : "The water cycle moves water between the oceans, the air and the land. The '
    "sun heats water in oceans and lakes, and it evaporates into water vapour. Plants also release "
    "vapour from their leaves, which is called transpiration. Clouds form when the water vapor "
    'cools and condenses into tiny droplets.}",\n\n"answer" : "Coons a very cool answer"\n\n}'
)

SCORE_CUT_OFF = '{\n\n"score"\n\n:\n\n1\n\n'  # the pair judge, cut off at max_tokens


def test_parse_and_filter_recorded_generations():
    dates = {leaf["lab_leaf"]: leaf for leaf in load_tree(bundled_tree())}
    seeds = [
        e["question"] for e in dates["compositional_skills/extraction/dates"]["lab_seed_examples"]
    ]
    task = parse_instruction(GROUNDED_COPY, grounded=True)
    assert task == {"context": "2017", "question": "What dates are mentioned?"}
    assert is_copy(task["question"], seeds)  # a seed question: dropped before any judge
    assert not is_copy("Which year did the war end?", seeds)
    assert parse_instruction('{"question": "Q?"}', grounded=True) is None  # no context
    assert parse_instruction('{"question": "Q', grounded=False) is None  # cut off
    assert parse_score(SCORE_CUT_OFF) == 1 and parse_score('{"score": 3}') == 3
    assert parse_score('{"score": 7}') is None and parse_score('{\n\n"sc') is None
    assert parse_verdict('{"verdict": "Yes"}') == "Yes" and parse_verdict('{"verdict"') is None
    question, answer = parse_knowledge(KNOWLEDGE_COPY)
    documents = {e["context"] for e in dates["knowledge/science/water_cycle"]["lab_seed_examples"]}
    assert answer == "Coons a very cool answer" and is_copy(question, sorted(documents))
    assert parse_knowledge('{"question": "Why?", "answer": ""}') is None


def test_bundled_tree_has_the_three_kinds_of_leaf():
    leaves = load_tree(bundled_tree())
    assert {leaf["lab_leaf"]: leaf["lab_kind"] for leaf in leaves} == {
        "compositional_skills/extraction/dates": "grounded_skill",
        "compositional_skills/writing/haiku": "skill",
        "knowledge/science/water_cycle": "knowledge",
    }
    assert all(len(leaf["lab_seed_examples"]) >= 5 for leaf in leaves)


@pytest.mark.parametrize(
    ("leaf", "text", "problem"),
    [
        ("skills/x", five_examples(), "a leaf must lie under one of knowledge"),
        ("compositional_skills/x", five_examples().replace("version: 2", "version: 1"), "version"),
        ("compositional_skills/x", LEAF + EXAMPLE.format(i=0), "at least 5 examples, found 1"),
        (
            "compositional_skills/x",
            five_examples().replace("created_by: tester\n", ""),
            "field 'created_by': must be a non-empty string",
        ),
        (
            "compositional_skills/x",
            five_examples().replace("answer: Hello 3.", "answer: ''"),
            "field 'seed_examples[3].answer': must be a non-empty string",
        ),
        ("knowledge/x", five_examples(), "field 'seed_examples[0].context'"),
        ("compositional_skills/x", five_examples() + "  - [a\n", "invalid YAML"),
    ],
)
def test_bad_leaves_name_the_file_and_the_problem(tmp_path, leaf, text, problem):
    path = leaf_file(tmp_path, leaf, text)
    with pytest.raises(InputError) as error:
        load_tree(tmp_path)
    assert str(error.value).startswith(str(path)) and problem in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_tree_exits_2_with_one_line(tmp_path):
    leaf_file(tmp_path / "tree", "compositional_skills/x", LEAF + EXAMPLE.format(i=0))
    bad = run_cli("run", "lab", "--set", "steps[0].params.path=tree", cwd=tmp_path)
    assert bad.returncode == 2
    assert "tree/compositional_skills/x/qna.yaml: field 'seed_examples'" in bad.stderr
    assert "at least 5 examples, found 1" in bad.stderr
    missing = run_cli("run", "lab", "--set", "steps[0].params.path=nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and "nowhere: not a folder" in missing.stderr
    params = run_cli("run", "lab", "--set", "steps[1].params.min_pair_score=4", cwd=tmp_path)
    assert params.returncode == 2 and "steps[1].params.min_pair_score" in params.stderr


def test_lab_skills_and_knowledge_sdg_on_the_embedded_model(tmp_path):
    tree = tmp_path / "tree"
    for leaf in ("compositional_skills/extraction/dates", "knowledge/science/water_cycle"):
        shutil.copytree(bundled_tree() / leaf, tree / leaf)
    records = run_recipe_twice(
        tmp_path,
        "lab",
        "--set",
        "steps[0].params.path=tree",
        "--set",
        "steps[1].params.instructions_per_leaf=1",
        "--set",
        "steps[1].params.keep_rejected=true",
        "--set",
        "steps[1].params.max_tokens=96",
        "--set",
        "steps[1].params.answer_max_tokens=48",
    )
    by_leaf = {r["lab_leaf"]: r for r in records}
    assert set(by_leaf) == {
        "compositional_skills/extraction/dates",
        "knowledge/science/water_cycle",
    }
    for record in records:
        assert record["_meta"]["method"] == "lab.generate" and record["_meta"]["parents"]
        assert record["_meta"]["request"] and record["_meta"]["model"].startswith("local:")
        assert "lab_seed_examples" not in record
        if record["lab_kept"]:
            assert record["lab_pair_score"] >= 2 and record["lab_rejected_by"] is None
            assert record["messages"][1]["content"] == record["output"]
        else:
            assert record["lab_rejected_by"]
    knowledge = by_leaf["knowledge/science/water_cycle"]
    assert knowledge["lab_kind"] == "knowledge" and knowledge["lab_instruction_verdict"] is None
    if knowledge["lab_rejected_by"] != "unparseable_pair":  # grounded in one of its documents
        assert knowledge["instruction"].startswith(knowledge["lab_context"])
        assert knowledge["lab_context"].startswith(("The water cycle", "As water vapour"))
    dates = by_leaf["compositional_skills/extraction/dates"]
    assert dates["lab_kind"] == "grounded_skill"
    if dates["lab_rejected_by"] not in ("unparseable_instruction", "copies_seed_example"):
        assert dates["lab_instruction_verdict"] in ("Yes", "No") and dates["lab_context"]
