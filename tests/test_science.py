"""Science pipelines, part 1: SciGLM's staged critique-and-revise (parsing, the stages on a
scripted client, the recipe on the embedded model killed with SIGKILL and resumed), Galactica's
formats (markup, the check, offloaded arithmetic run in the real sandbox, the recipe) and the
LAB-Bench decontamination set."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, summary_of

from synthaug.curate.benchmarks import load_benchmark
from synthaug.engine.resources import RunResources
from synthaug.engine.step import RowError, StepContext
from synthaug.methods.curation.filters import Decontaminate
from synthaug.methods.science.galactica import (
    Format,
    arithmetic,
    check_markup,
    cite,
    offload_program,
    with_sequences,
    wrap,
)
from synthaug.methods.science.sciglm import Annotate, Filter, parse_revision
from synthaug.records import META, error_of
from synthaug.verify.sandbox import Sandbox

QUESTION = "A block has a mass of 540 g and a volume of 200 cm^3. What is its density in g/cm^3?"


def scripted(answer):
    """A client whose reply is ``answer(prompt)`` (for the stage logic only; it records the
    prompts it was sent)."""
    sent = []

    async def complete(request):
        prompt = request.messages[-1]["content"]
        sent.append(prompt)
        return SimpleNamespace(text=answer(prompt), choices=[SimpleNamespace(finish_reason="stop")])

    client = SimpleNamespace(complete=complete, key=lambda r: f"k{len(sent)}",
                             backend=SimpleNamespace(describe=lambda: "scripted"))  # fmt: skip
    return client, sent


def row(**fields) -> dict:
    return {"question": QUESTION, "answer": "2.7", **fields,
            META: {"id": "q1", "parents": [], "step": "t", "method": "t"}}  # fmt: skip


def run_step(step, record, client, sandbox=None):
    resources = RunResources(sandbox=sandbox) if sandbox else RunResources()
    ctx = StepContext(llm=client, run_seed=0, step_name="t", resources=resources)
    return asyncio.run(step.process(record, ctx))


def test_revision_replies_parse_after_the_last_correct_solution_marker():
    reply = "Reflection: I divided the wrong way.\nCorrect solution: 540 / 200 = 2.7.\nThe answer is 2.7."
    assert parse_revision(reply) == (
        "I divided the wrong way.",
        "540 / 200 = 2.7.\nThe answer is 2.7.",
    )
    assert parse_revision("reflection：x correct  solution： y")[1] == "y"
    assert parse_revision("Reflection: it is wrong. The answer is 2.7.") is None
    assert parse_revision("Reflection: x\nCorrect solution:   ") is None


def test_sciglm_stages_stop_at_the_first_solution_that_reaches_the_gold_answer():
    def answer(prompt):
        if "Passage 3: 2.7" in prompt:  # stage 3: the gold answer is given
            return (
                "Reflection: I inverted it.\nCorrect solution: 540 / 200 = 2.7\nThe answer is 2.7."
            )
        if "Passage 2:" in prompt:  # stage 2: no marker, asked again (3 attempts)
            return "I think the answer is still 0.37."
        return "200 / 540 = 0.37\nThe answer is 0.37."

    client, sent = scripted(answer)
    (kept,) = run_step(Annotate(), row(), client)
    assert len(sent) == 1 + 3 + 1 and "Passage 3" not in sent[1]
    assert "Options" not in sent[0] and QUESTION in sent[0]
    assert kept["sciglm_stage"] == "revise_with_answer" and kept["reflection"] == "I inverted it."
    assert [a["stage"] for a in kept["attempts"]] == ["cot", "reflect", "revise_with_answer"]
    assert [a["verified"] for a in kept["attempts"]] == [False, False, True]
    check = kept["verification"]
    assert check["kind"] == "answer" and check["verified"] and check["extracted"] == "2.7"
    assert kept["messages"][1]["content"] == kept["solution"]
    assert len(kept[META]["request"]) == 5

    right, sent = scripted(lambda prompt: "540 / 200 = 2.7\nThe answer is 2.7.")
    (first,) = run_step(Annotate(), row(), right)
    assert len(sent) == 1 and first["sciglm_stage"] == "cot" and first["reflection"] is None

    wrong, sent = scripted(lambda prompt: "Reflection: no.\nCorrect solution: The answer is 3.")
    (failed,) = run_step(Annotate(stages=2), row(choices=["2.7", "3"]), wrong)
    assert len(sent) == 2 and "Options: (A) 2.7 (B) 3" in sent[0]
    assert error_of(failed)["kind"] == "unsolved" and failed["attempts"][-1]["solution"]
    (kept_failed,) = run_step(Annotate(stages=1, keep_failed=True), row(), wrong)
    assert kept_failed["failure"] == "unsolved" and not kept_failed["verification"]["verified"]


def test_sciglm_filter_keeps_positive_labels_and_names_the_rest():
    solved = row(solution="540 / 200 = 2.7. The answer is 2.7.")
    (kept,) = run_step(Filter(), solved, scripted(lambda p: '{"label": "positive"}')[0])
    assert kept["quality"] == {"label": "positive", "judge": "scripted"}
    for reply, kind in (('{"label": "negative"}', "low_quality"), ('{"lab', "malformed_judgement")):
        with pytest.raises(RowError) as raised:
            run_step(Filter(), solved, scripted(lambda p, reply=reply: reply)[0])
        assert raised.value.kind == kind


def test_galactica_markup_and_its_check():
    assert wrap("i_smiles", "C[C@H](N)C(=O)O") == "[START_I_SMILES]C[C@H](N)C(=O)O[END_I_SMILES]"
    assert cite("Attention Is All You Need", "Vaswani") == (
        "[START_REF] Attention Is All You Need, Vaswani [END_REF]")  # fmt: skip
    good = ("Question: see [START_REF] Long Short-Term Memory, Hochreiter [END_REF] and "
            f"{wrap('amino', 'MKTAYIAK')} {wrap('dna', 'ACGTTGCA')}\n<work>\n1 + 1 = 2\n</work>")  # fmt: skip
    assert check_markup(good) == []
    bad = ("<work> a <work> b </work> [START_REF] no author [END_REF] "
           f"{wrap('dna', 'ACGU')} {wrap('smiles', 'C(C')} [START_AMINO]MK")  # fmt: skip
    problems = check_markup(bad)
    assert "nested <work>" in problems
    assert "citation not 'title, author': 'no author'" in problems
    assert any(p.startswith("dna sequence with a character outside") for p in problems)
    assert "SMILES with unbalanced brackets: 'C(C'" in problems
    assert "[START_AMINO] without [END_AMINO]" in problems
    assert with_sequences("Ethanol is CCO here.", {"s": ("smiles", "CCO")}) == (
        "Ethanol is [START_SMILES]CCO[END_SMILES] here.")  # fmt: skip
    assert with_sequences("Water.", {"s": ("smiles", "O")}) == (
        "Water.\nSMILES: [START_SMILES]O[END_SMILES]")  # fmt: skip


def test_galactica_offloads_the_arithmetic_and_drops_a_wrong_result():
    steps = "Speed = 45 / 1.5 = 30 km/h. Then 2 × (3 + 4) = 14, and 10^2 = 100; x = 5."
    found = arithmetic(steps)
    assert [c["expr"] for c in found] == ["45 / 1.5", "2 × (3 + 4)", "10^2"]
    assert [c["stated"] for c in found] == ["30", "14", "100"]
    assert offload_program(found) == "print(45 / 1.5)\nprint(2 * (3 + 4))\nprint(10**2)\n"
    sandbox = Sandbox()
    solved = row(solution="Density = 540 / 200 = 2.7 g/cm^3.\nThe answer is 2.7.", smiles="O",
                 references=[{"title": "Density of solids", "author": "Smith"}])  # fmt: skip
    (done,) = run_step(Format(), solved, None, sandbox)
    work = done["galactica"]
    assert work["offloaded"] and work["computations"][0]["computed"] == "2.7"
    assert work["execution"]["status"] == "ok" and work["output"].strip() == "2.7"
    text = done["text"]
    assert text.startswith(f"Question: {QUESTION}\nSMILES: [START_SMILES]O[END_SMILES]\n\n<work>\n")
    assert "file.write('print(540 / 200)\\n')" in text and "python work.py\n2.7\n</work>" in text
    assert text.endswith("Answer: 2.7 [START_REF] Density of solids, Smith [END_REF]")
    assert check_markup(text) == [] and done["messages"][1]["content"].startswith("<work>")
    with pytest.raises(RowError) as raised:
        run_step(Format(), row(solution="540 / 200 = 3.7"), None, sandbox)
    assert raised.value.kind == "arithmetic_mismatch" and "540 / 200 is 2.7, not 3.7" in str(
        raised.value
    )
    (plain,) = run_step(Format(offload="never"), row(solution="540 / 200 = 3.7"), None, sandbox)
    assert plain["galactica"] == {"offloaded": False} and "work.py" not in plain["text"]


def test_lab_bench_is_a_builtin_decontamination_set():
    items = load_benchmark("lab_bench")
    assert len(items) == 628 and items[0].benchmark == "lab_bench"
    leaked = items[5].text.split("\n")[0]
    step = Decontaminate(columns=["question"], benchmarks=["lab_bench"], mode="substring",
                         action="flag")  # fmt: skip
    ctx = StepContext(llm=None, run_seed=0, step_name="d")
    (flagged,) = asyncio.run(step.process(row(question=f"Quiz: {leaked}"), ctx))
    hits = {hit["item_id"] for hit in flagged["contamination"]}
    assert flagged["contaminated"] and items[5].item_id in hits
    (clean,) = asyncio.run(step.process(row(), ctx))
    assert clean["contaminated"] is False


def test_galactica_recipe_formats_every_packaged_solution(tmp_path):
    out = tmp_path / "data.jsonl"
    done = run_cli("run", "galactica", "--out", str(out), "--quiet", cwd=tmp_path,
                   env={"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = read_jsonl(out)
    assert len(records) == 24 and summary_of(out)["llm"]["model_calls"] == 0
    offloaded = [r for r in records if r["galactica"]["offloaded"]]
    assert len(offloaded) == 16  # the numeric questions; the others have no arithmetic
    for record in records:
        assert check_markup(record["text"]) == [] and record["text"].count("<work>") == 1
        assert all(c["match"] for c in record["galactica"].get("computations", []))
    assert sum("[START_SMILES]" in r["text"] for r in records) == 4


@pytest.fixture(scope="module")
def sciglm_run(tmp_path_factory) -> SimpleNamespace:
    """SciGLM's annotation of a packaged question (3 stages, up to 7 calls) on the embedded
    model, killed with SIGKILL after 3 answers and resumed; an unsolved question is kept
    (``keep_failed``) so the resume has a record to compare."""
    cwd = tmp_path_factory.mktemp("sciglm")
    recipe = {"name": "sciglm_small", "seed": 0,
              "backend": {"type": "local", "parallel": 2, "threads": 1, "deterministic": True},
              "steps": [{"name": "questions", "method": "science.questions",
                         "params": {"count": 1}},
                        {"name": "annotate", "method": "sciglm.annotate",
                         "params": {"max_tokens": 48, "keep_failed": True}}]}  # fmt: skip
    (cwd / "recipe.yaml").write_text(json.dumps(recipe))
    records, summary, _ = resume_after_kill(cwd, "recipe.yaml", after_calls=3)
    return SimpleNamespace(cwd=cwd, records=records, summary=summary)


def test_sciglm_annotation_resumes_after_kill_with_staged_evidence(sciglm_run):
    records = sciglm_run.records
    assert len(records) == 1
    for record in records:
        stages = [a["stage"] for a in record["attempts"]]
        check = record["verification"]
        assert stages == ["cot", "reflect", "revise_with_answer"][: len(stages)]
        assert record["sciglm_stage"] == stages[-1]
        assert check["kind"] == "answer" and check["gold"] == record["answer"]
        assert check["verified"] == (record.get("failure") is None)
        if record["verification"]["verified"]:
            assert record["attempts"][-1]["verified"]
        else:  # every stage tried: 1 CoT call, then up to 3 attempts for each revision
            assert stages == ["cot", "reflect", "revise_with_answer"]
            assert 3 <= len(record[META]["request"]) <= 7
    done = run_cli("verify", str(sciglm_run.cwd / "data.jsonl"), "--json", cwd=sciglm_run.cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["agreed"] == 1


def test_bad_science_inputs_are_one_line_exit_2_and_write_nothing(tmp_path):
    bad = tmp_path / "compounds.jsonl"
    bad.write_text('{"name": "water", "formula": "H2O"}\n{"name": "x", "formula": "Qq2"}\n')
    cases = {
        ("sciglm", f"steps[0].params.path={tmp_path / 'none.jsonl'}"): "none.jsonl: ",
        ("chemllm", f"steps[0].params.compounds={bad}"): f"{bad}:2: bad formula 'Qq2'",
        ("scilitllm", "steps[0].params.tasks=[poetry]"): "unknown tasks ['poetry']",
    }
    for (recipe, override), expected in cases.items():
        out = tmp_path / f"{recipe}.jsonl"
        done = run_cli("run", recipe, "--set", override, "--out", str(out), cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("synthaug: error: ") and expected in line
        assert not out.exists()


def test_lab_bench_holds_both_subsets():
    items = load_benchmark("lab_bench")
    assert len(items) == 628
    subsets = {item.item_id.split("/")[0] for item in items}
    assert subsets == {"dbqa", "protocolqa"}
    assert all(item.text.startswith(item.substrings[0]) for item in items)
