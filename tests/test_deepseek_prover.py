"""DeepSeek-Prover's pipeline with Coq: statements and proofs checked by the real ``coqc`` in
the real sandbox, the steps on the embedded model, the recipe end to end."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, write_jsonl

from synthaug.engine.step import StepContext
from synthaug.llm.client import LLMClient
from synthaug.llm.local import LocalBackend
from synthaug.methods.reasoning.deepseek_prover import (
    Filter,
    Prove,
    coq_verdict,
    read_proof,
    read_statement,
)
from synthaug.records import source_record
from synthaug.verify import coq
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

CONSISTENT = "Theorem problem (x : nat) (h0 : x + 7 = 19) : x = 12."
INCONSISTENT = "Theorem problem (x : nat) (h0 : x + 7 = 19) (h1 : x = 3) : x = 12."
SECRET = "prover-secret-4c1d"


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Theorem t (x : nat) (h0 : x = 2) : x + 1 = 3.", None),
        ("Lemma t : forall n : nat, n + 0 = n.", None),
        ("Theorem t : 1 = 1. Axiom f : False.", "one sentence"),
        ('Theorem t : 1 = 1. Redirect "/tmp/x" Print nat.', "strings"),
        ("Definition t := 1.", "starts 'Theorem"),
        ("Theorem t (x : nat).", "': CONCLUSION'"),
        ("Theorem t x : x = x.", "parenthesised"),
    ],
)
def test_statement_rules(text, problem):
    if problem is None:
        assert coq.parse_statement(text).name == "t"
    else:
        with pytest.raises(ValueError, match=problem):
            coq.parse_statement(text)


@pytest.mark.parametrize(
    ("proof", "allowed"),
    [
        ("lia.", True),
        ("intros. subst.\n- lia.\n- { reflexivity. }", True),
        ("all: lia.", True),
        ("Admitted.", False),
        ("admit.", False),
        ("lia. Qed. Axiom cheat : False.", False),
        ('idtac "Closed under the global context".', False),
        ("Load Secret.", False),
        ("", False),
    ],
)
def test_proof_is_tactics_only(proof, allowed):
    assert (coq.proof_problem(proof) is None) is allowed


def test_replies_are_read_as_statement_and_proof():
    statement = read_statement("Coq: Theorem my_name (x : nat) (h0 : x = 2) : x = 2.\nmore")
    assert statement.text() == "Theorem problem (x : nat) (h0 : x = 2) : x = 2."
    assert statement.negation().text() == (
        "Theorem problem_neg : ~ (forall (x : nat) (h0 : x = 2), x = 2)."
    )
    assert read_proof("Proof. intros. lia. Qed. junk") == "intros. lia."


def test_statement_check_drops_inconsistent_keeps_consistent():
    sandbox = Sandbox()
    kept = run(coq.check_statement(sandbox, coq.parse_statement(CONSISTENT)))
    assert kept["compiles"] and not kept["inconsistent"]
    assert kept["execution"]["isolation"].startswith("bwrap")
    vacuous = run(coq.check_statement(sandbox, coq.parse_statement(INCONSISTENT)))
    assert vacuous["compiles"] and vacuous["inconsistent"]
    broken = run(coq.check_statement(sandbox, coq.parse_statement("Theorem t : undefined = 1.")))
    assert not broken["compiles"] and not broken["inconsistent"]


def test_proof_check_and_verify_evidence_catch_tampering():
    sandbox = Sandbox()
    good = run(coq.check_proof(sandbox, CONSISTENT, "lia."))
    assert good["verified"] and good["reason"] == ""
    real = "Theorem problem (r : R) (h0 : (3 * r = 7.5)%R) : (r = 2.5)%R."
    assert run(coq.check_proof(sandbox, real, "lra."))["verified"]  # the library's axioms
    wrong = run(coq.check_proof(sandbox, CONSISTENT, "reflexivity."))
    assert not wrong["verified"] and wrong["reason"].startswith("coqc: error")
    evidence = coq_verdict(CONSISTENT, "lia.", good)
    assert run(reverify(evidence, Sandbox()))
    tampered = evidence | {"statement": CONSISTENT.replace("x = 12", "x = 13")}
    assert not run(reverify(tampered, Sandbox()))


def test_sandboxed_coq_file_cannot_write_outside_or_read_the_environment(tmp_path, monkeypatch):
    """The boundary itself, without the proof rules: a hostile ``.v`` file run by ``coqc``."""
    canary = tmp_path / "canary"
    canary.mkdir()
    canary.chmod(0o777)  # world-writable: only the boundary keeps the file out
    monkeypatch.setenv("PROVER_SECRET", SECRET)
    hostile = (
        f'Redirect "{canary}/escaped" Print nat.\n'
        'Load "$PROVER_SECRET".\n'  # Coq expands $VARIABLES in file names
    )
    result = run(coq.compile_file(Sandbox(), hostile))
    assert result.status == "error"
    assert not (canary / "escaped").exists() and not (canary / "escaped.out").exists()
    assert SECRET not in result.stdout + result.stderr
    leak = run(coq.compile_file(Sandbox(), 'Load "$PROVER_SECRET".\n'))
    assert "$PROVER_SECRET" in leak.stderr or "PROVER_SECRET" in leak.stderr
    assert SECRET not in leak.stderr


@pytest.fixture(scope="module")
def llm():
    backend = LocalBackend(parallel=2, deterministic=True, threads=1)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(backend.start())
    yield LLMClient(backend, cache=None)
    loop.run_until_complete(backend.close())
    loop.close()


def _context(llm: LLMClient, step: str) -> StepContext:
    from synthaug.engine.resources import RunResources

    return StepContext(llm=llm, run_seed=0, step_name=step,
                       resources=RunResources(sandbox=Sandbox()))  # fmt: skip


def _row(statement: str, index: int) -> dict:
    question = "A number plus 7 is 19. What is the number?"
    return source_record({"question": question, "answer": "12", "formal_statement": statement},
                         source="test", index=index)  # fmt: skip


def test_filter_step_on_the_model(llm):
    step = Filter("filter")
    ctx = _context(llm, "filter")
    kept, vacuous = (run(step.process(_row(s, i), ctx))[0] for i, s in
                     enumerate([CONSISTENT, INCONSISTENT]))  # fmt: skip
    assert vacuous["_meta"]["error"]["kind"] == "inconsistent_hypotheses"
    assert vacuous["quality"] is None  # rejected before the model is asked
    assert kept["statement_check"]["inconsistent"] is False
    assert kept["quality"] in ("excellent", "good", "above average", "fair", "poor")
    dropped = kept.get("_meta", {}).get("error")
    assert (dropped is None) is (kept["quality"] not in ("fair", "poor"))


def test_prove_step_keeps_a_verified_proof_that_verify_rechecks(llm, tmp_path):
    step = Prove("prove", k=4, negation=False)
    out = run(step.process(_row(CONSISTENT, 0), _context(llm, "prove")))[0]
    assert "error" not in out["_meta"], out["_meta"]
    assert out["proved"] == "statement" and out["verification"]["verified"]
    assert coq.proof_problem(out["formal_proof"]) is None
    data = write_jsonl(tmp_path / "proved.jsonl", [out])
    done = run_cli("verify", str(data), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["by_kind"] == {"coq_proof": {"checked": 1, "agreed": 1}}
    out["verification"]["proof"] = "reflexivity."  # a proof that does not prove it
    tampered = write_jsonl(tmp_path / "tampered.jsonl", [out])
    assert run_cli("verify", str(tampered), cwd=tmp_path).returncode == 1


EASY = [  # two of the prompt's own exemplars: the 135M model formalizes those as shown
    {"question": "A baker fills 6 trays with 12 muffins each and sells 50 muffins. How many "
                 "muffins are left?", "answer": "22"},
    {"question": "Lena reads 15 pages on Monday and twice as many on Tuesday. How many pages "
                 "did she read in the two days?", "answer": "45"},
]  # fmt: skip


def test_recipe_end_to_end_resumes_after_kill_and_verify_agrees(tmp_path):
    problems = write_jsonl(tmp_path / "problems.jsonl", EASY)
    args = ("deepseek_prover", "--set", f"steps[0].params.path={problems}",
            "--set", "steps[3].params.k=2", "--set", "backend.deterministic=true",
            "--set", "backend.threads=1")  # fmt: skip
    records, summary, _ = resume_after_kill(tmp_path, *args, after_calls=2)
    steps = {step["name"]: step for step in summary["steps"]}
    assert steps["problems"]["rows_out"] == len(EASY)
    for name in ("formalize", "filter", "prove"):  # every row is a record or a counted error
        step = steps[name]
        assert step["rows_in"] == step["rows_out"] + sum(step["errors"].values()), step
    failed = tmp_path / "data.errors.jsonl"
    assert len(records) + (len(read_jsonl(failed)) if failed.exists() else 0) == len(EASY)
    for record in records:
        assert record["verification"]["kind"] == "coq_proof" and record["verification"]["verified"]
        assert record["formal_statement"].startswith("Theorem problem ")
    done = run_cli("verify", str(tmp_path / "data.jsonl"), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["agreed"] == len(records)


def test_steps_refuse_without_coqc_in_one_line(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("bwrap"), bin_dir / "bwrap")  # everything but coqc
    done = run_cli("run", "deepseek_prover", "--limit", "1", "--out", str(tmp_path / "o.jsonl"),
                   cwd=tmp_path, env={"PATH": str(bin_dir)})  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "coqc is not installed" in lines[0], done.stderr
    assert not Path(tmp_path / "o.jsonl").exists()
