"""GAIR-Abel Parental Oversight (abel.oversee): write under the principles, critique against
them and the gold answer, polish, keep only polished solutions whose answer is the gold one;
checked on real outputs of the embedded model (small counts)."""

from __future__ import annotations

import asyncio

from conftest import read_jsonl, run_recipe_twice

from synthaug.methods.reasoning.abel import PRINCIPLES, Oversee
from synthaug.methods.reasoning.problems import load_problems
from synthaug.verify.evidence import reverify
from synthaug.verify.math_answer import check_answer
from synthaug.verify.sandbox import Sandbox


def test_prompts_carry_the_principles_the_reference_and_the_gold_answer():
    write = Oversee.ask("abel_write.j2", 0.0, 64, 1, question="Q?", reference="R.")
    critique = Oversee.ask("abel_critique.j2", 0.0, 64, 1, question="Q?", answer="42", solution="S")
    polish = Oversee.ask("abel_polish.j2", 0.0, 64, 1, question="Q?", solution="S", critique="C")
    texts = [request.messages[0]["content"] for request in (write, critique, polish)]
    for text in texts:
        assert all(principle in text for principle in PRINCIPLES)
    assert "R." in texts[0] and "Correct final answer: 42" in texts[1]
    assert "Review:\nC" in texts[2] and "42" not in texts[2]  # the polisher is not told the answer
    sampled = Oversee.ask("abel_write.j2", 0.7, 64, 1, question="Q?", reference="")
    assert "reference solution" not in sampled.messages[0]["content"]


def test_abel_recipe_keeps_only_polished_solutions_with_the_gold_answer(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "abel",
        "--limit", "1",
        "--set", "steps[1].params.max_tokens=96",
        "--set", "steps[1].params.critique_max_tokens=48",
    )  # fmt: skip
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    problems = {p["question"]: str(p["answer"]) for p in load_problems(None, 1)}
    assert len(records) + len(errors) == 1  # one curated solution per problem, kept or dropped
    sandbox = Sandbox()
    for row in records + errors:
        gold = problems[row["question"]]
        assert row["answer"] == gold and row["solution_source"] == "gold"
        assert row["draft"] and row["critique"]
        v = row["verification"]
        assert v["kind"] == "answer" and v["text"] == row["solution"] and v["gold"] == gold
        assert v["last_number"] is False  # the answer must be stated as such
        assert v["match"] == check_answer(row["solution"], gold, False)["match"]
        assert asyncio.run(reverify(v, sandbox))
    for record in records:  # kept: the polished answer is the gold answer
        assert record["verification"]["verified"] is True
    for error in errors:  # dropped: it is not
        assert error["verification"]["verified"] is False
        kind = "no_answer" if error["verification"]["extracted"] is None else "answer_mismatch"
        assert error["_meta"]["error"]["kind"] == kind
