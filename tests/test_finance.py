"""FinQA-style QA over filings: questions whose Python programs run in the sandbox over the
document's own numbers; the answers re-verify from the records (`synthaug verify`)."""

from __future__ import annotations

import copy
import json
from importlib import resources

from conftest import read_jsonl, resume_after_kill, run_cli, write_jsonl

from synthaug.methods.finance.finqa import document_text, executed, parse_reply, program_grammar
from synthaug.records import error_of
from synthaug.verify.finqa import CONSTANTS, check_grounding, document_numbers, literals


def test_document_numbers_and_program_literals():
    assert document_numbers("Revenue was $1,245.6 million in 2024, up 12% (from 1,120.4).") == [
        1245.6, 2024.0, 12.0, 1120.4]  # fmt: skip
    assert literals("a = 4812\nb = -3.5\nanswer = (a - b) / 100") == [4812.0, -3.5, 100.0]
    assert literals("answer = (") == []
    numbers = [4812.0, 4356.0]
    check = check_grounding("a = 4812\nb = 4356\nanswer = (a - b) / b * 100", numbers)
    assert check == {"literals": [4812.0, 4356.0, 100.0], "ungrounded": [], "grounded": True}
    check = check_grounding("a = 4812\nanswer = a * 1.07", numbers)
    assert check["ungrounded"] == [1.07] and not check["grounded"]
    assert not check_grounding("answer = 2 + 3", numbers)["grounded"]  # constants alone
    assert {1, 100, 1000, -1} <= CONSTANTS


def test_replies_parse_and_the_grammar_offers_the_documents_numbers():
    reply = "Question: What was the change in revenue?\n```python\nr_a = 4812\nr_b = 4356\nanswer = r_a - r_b\n```"
    assert parse_reply(reply) == ("What was the change in revenue?",
                                  "r_a = 4812\nr_b = 4356\nanswer = r_a - r_b\n")  # fmt: skip
    assert parse_reply(reply[: -len("\n```")]) is not None  # cut before the closing fence
    assert parse_reply("```python\nanswer = 1\n```") is None
    filing = json.loads(
        (resources.files("synthaug") / "data" / "finance_filings.jsonl").open().readline()
    )
    text = document_text(filing)
    assert filing["pre_text"] in text and "Net revenue | 4,812 | 4,356 | 3,990" in text
    grammar = program_grammar(document_numbers(text))
    num = next(line for line in grammar.splitlines() if line.startswith("num ::= "))
    assert '"4812"' in num and '"731"' in num and '"100"' in num and '"4,812"' not in num
    program = executed("print('noise')\nanswer = 2")
    assert program.endswith("print(answer)\n") and "redirect_stdout" in program


def test_finqa_recipe_survives_a_kill_and_its_answers_reverify(tmp_path):
    """finqa on 2 shipped filings x 2 questions, killed (SIGKILL) after one answer and
    resumed; every kept record's program ran in the sandbox to a number and uses the
    document's numbers only."""
    # deterministic decoding: llama.cpp's batching would make the kept share vary run to run
    args = ["finqa", "--set", "backend.threads=1", "--set", "backend.deterministic=true",
            "--set", "steps[0].params.count=2"]  # fmt: skip
    records, summary, _ = resume_after_kill(tmp_path, *args, after_calls=1)
    generate = next(s for s in summary["steps"] if s["name"] == "generate")
    assert generate["llm"]["requests"] + generate["reused_from_checkpoint"] >= 1
    assert set(generate["errors"]) <= {"format", "program_failed", "ungrounded_numbers"}
    failed = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(failed) if failed.exists() else []
    assert len(records) + len(errors) == 4
    for error in errors:
        if error_of(error)["kind"] != "format":
            assert not error["verification"]["verified"]
    for record in records:
        check = record["verification"]
        assert check["kind"] == "finqa_program" and check["verified"]
        assert record["answer_source"] == "execution" and float(record["answer"]) == float(
            check["answer"]
        )
        assert check["execution"]["status"] == "ok" and check["execution"]["exit_code"] == 0
        assert check["execution"]["stdout"].strip() == check["answer"]
        document = set(document_numbers(record["context"]))
        assert any(abs(n) in document for n in check["literals"])
        assert all(abs(n) in document or n in CONSTANTS for n in check["literals"])
        assert check["code"] == executed(record["program"])
        assert record["messages"][0]["content"].endswith(f"Question: {record['question']}")
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    done = run_cli("verify", str(tmp_path / "data.jsonl"), "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["agreed"] == len(records)
    # a stored answer the program does not print, or a number not in the document, fails
    wrong = copy.deepcopy(records[0])
    wrong["verification"]["answer"] = str(float(wrong["verification"]["answer"]) + 1)
    invented = copy.deepcopy(records[0])
    invented["verification"]["code"] = invented["verification"]["code"].replace(
        "print(answer)", "answer = answer + 0 * 987654.5\nprint(answer)")  # fmt: skip
    lying = write_jsonl(tmp_path / "forged.jsonl", [wrong, invented])
    done = run_cli("verify", str(lying), "--json", cwd=tmp_path, env=env)
    assert done.returncode == 1 and json.loads(done.stdout)["agreed"] == 0, done.stdout
