"""Auto Evol-Instruct: the failure rules and parsing, and a small run of the recipe on the
embedded model through the real CLI, checked against the method's selection rule (the
candidate with the lowest evolution failure rate on the dev set) on what the model made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, summary_of

from synthaug.methods.instruct import auto_evol

# answers shaped like the paper's Table 5 cases (written for this test)
FAILED = {
    "Understood. Shall I add anything else to this description?": "stagnant_complexity",
    "Thank you for the details. What would you like me to do with them?": "stagnant_complexity",
    "Great! Do you want me to explain the code?": "stagnant_complexity",
    "Sure, I can do that. Which weather service should I use?": "insufficient_qualification",
    "I'm sorry, no list was given. Please provide the objects to sort.": "loss_of_key_information",
    "   ": "empty_response",
}
PASSED = (
    "Canberra is the capital of Australia.",
    "Understood: the answer is 42.",  # opens like a failure, but does not end in a question
    "What a question! Paris is the capital of France.",
)


def test_evolution_failure_rules():
    for answer, kind in FAILED.items():
        assert auto_evol.evolution_failure(answer) == kind
    for answer in PASSED:
        assert auto_evol.evolution_failure(answer) is None
    runs = [{"failure": None}, {"failure": "stagnant_complexity"}, {"failure": None}]
    assert auto_evol.failure_rate(runs) == pytest.approx(1 / 3)


def test_initial_method_and_reply_parsing():
    method = auto_evol.initial_method()
    for marker in ("#Methods List#", "#Plan#", "#Rewritten Instruction#", "10 to 20 words"):
        assert marker in method
    assert method.rstrip().endswith("#Instruction#:")
    prompt = auto_evol.evolving_prompt(method, "Sort the list.")
    assert prompt.endswith("#Instruction#:\nSort the list.")
    reply = "Step 3\n#Rewritten Instruction#: x\nStep 4\n#Finally Rewritten Instruction#:\nSort it."
    assert auto_evol.final_instruction(reply) == "Sort it."
    assert auto_evol.final_instruction("Final Rewritten Instruction: Sort.") == "Sort."
    assert auto_evol.final_instruction("Sort the list twice.") == "Sort the list twice."
    optimized = "Feedback noted.\n```Optimized Method\nRewrite it harder.\n```\nDone."
    assert auto_evol.optimized_method(optimized) == "Rewrite it harder."
    assert auto_evol.optimized_method("```Method\nold\n```") is None


ARGS = [
    "auto_evol_instruct",
    *("--limit", "4"),
    *("--set", "backend.parallel=4"),
    *("--set", "steps[1].params.steps=1"),
    *("--set", "steps[1].params.candidates=2"),
    *("--set", "steps[1].params.batch_size=1"),
    *("--set", "steps[1].params.dev_size=2"),
    *("--set", "steps[1].params.max_tokens=32"),
    *("--set", "steps[1].params.answer_max_tokens=16"),
    *("--set", "steps[1].params.optimizer_max_tokens=48"),
    *("--set", "steps[2].params.max_tokens=32"),
    *("--set", "steps[2].params.answer_max_tokens=16"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("auto_evol")
    out = folder / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(folder / "cache.sqlite3")}
    result = run_cli("run", *ARGS, "--out", str(out), "--quiet", cwd=folder, env=env, timeout=1500)
    assert result.returncode == 0, result.stderr
    return out


def test_the_candidate_with_the_lowest_dev_failure_rate_is_chosen(run):
    history = json.loads(run.with_name(auto_evol.HISTORY).read_text(encoding="utf-8"))
    assert history["initial_method"] == auto_evol.initial_method()
    assert len(history["dev"]) == 2 and history["steps"]
    initial = history["initial_evaluation"]
    assert history["initial_rate"] == auto_evol.failure_rate(initial)
    method = history["initial_method"]
    for step in history["steps"]:
        assert step["start_method"] == method and len(step["candidates"]) == 2
        assert len(step["batch"]) == 1 and not set(step["batch"]) & set(history["dev"])
        for candidate in step["candidates"]:
            evaluation = candidate["evaluation"]
            assert [e["instruction"] for e in evaluation] == history["dev"]
            for e in evaluation:  # each failure is the rule applied to the real answer
                expected = (
                    "empty_instruction" if not e["evolved"]
                    else auto_evol.evolution_failure(e["response"])
                )  # fmt: skip
                assert e["failure"] == expected
            assert candidate["rate"] == auto_evol.failure_rate(evaluation)
        rates = [c["rate"] for c in step["candidates"]]
        assert step["rates"] == rates and step["chosen"] == rates.index(min(rates))
        assert step["adopted"] == (min(rates) < step["start_rate"])
        if step["adopted"]:
            method = step["candidates"][step["chosen"]]["method"]
    assert history["final_method"] == method


def test_every_row_is_evolved_with_the_optimized_method(run):
    history = json.loads(run.with_name(auto_evol.HISTORY).read_text(encoding="utf-8"))
    records = read_jsonl(run)
    errors_path = run.with_name("data.errors.jsonl")
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    evolved = [e for e in errors if e["_meta"]["step"] == "evolve"]
    assert len(records) + len(evolved) >= 3  # 4 seeds, dedup may merge copies
    kinds = {"stagnant_complexity", "insufficient_qualification", "loss_of_key_information"}
    assert {e["_meta"]["error"]["kind"] for e in evolved} <= kinds | {
        "empty_instruction", "empty_response",
    }  # fmt: skip
    assert records, "no evolution passed: the method's use would go unchecked"
    for record in records:
        assert record["auto_evol_method"] == history["final_method"]
        assert [s["chosen"] for s in record["auto_evol_history"]] == [
            s["chosen"] for s in history["steps"]
        ]
        assert record["instruction"].strip() and record["evol_parent"].strip()
        assert auto_evol.evolution_failure(record["output"]) is None
        assert record["_meta"]["method"] == "auto_evol.evolve"


def test_a_rerun_makes_no_model_call_and_gives_the_same_records(run):
    records = read_jsonl(run)
    env = {"SYNTHAUG_CACHE": str(run.with_name("cache.sqlite3"))}
    again = run_cli("run", *ARGS, "--out", str(run), "--quiet", cwd=run.parent, env=env)
    assert again.returncode == 0, again.stderr
    assert summary_of(run)["llm"]["model_calls"] == 0 and read_jsonl(run) == records


def test_optimization_and_evolution_resume_after_kill_without_repeating_calls(tmp_path):
    """One slot, one thread; killed inside the optimization (its loop reruns on the cached
    answers) and resumed (``resume_after_kill``)."""
    one_slot = ("--set", "backend.threads=1", "--set", "backend.deterministic=true")
    records, _, _ = resume_after_kill(
        tmp_path, *ARGS, *one_slot, "--set", "backend.parallel=1", after_calls=3
    )
    history = json.loads((tmp_path / auto_evol.HISTORY).read_text(encoding="utf-8"))
    assert history["steps"]
    for record in records:
        assert record["auto_evol_method"] == history["final_method"]
        assert auto_evol.evolution_failure(record["output"]) is None
