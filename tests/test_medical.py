"""Medical pipelines (DISC-MedLLM, BianQue, HuatuoGPT, HuatuoGPT-II, ChatCounselor,
UltraMedical): dialogue checks, reply parsing, KG sampling, the chain-of-questioning schedule,
the HuatuoGPT mixture, counselling clips and skill scores, UltraMedical's ranking, the MedQA and
MedMCQA benchmarks; every recipe on the embedded model (one thread, deterministic, tiny
counts), BianQue's multi-turn dialogue killed with SIGKILL mid-dialogue and resumed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, write_jsonl

from synthaug.cli import main
from synthaug.curate.benchmarks import load_benchmark
from synthaug.engine.step import RowError, StepContext
from synthaug.errors import InputError
from synthaug.methods.curation.filters import Decontaminate
from synthaug.methods.medical.bianque import Samples, allowed_actions
from synthaug.methods.medical.chatcounselor import COMPETENCIES, Judge, Sessions, clips
from synthaug.methods.medical.dialogue import as_messages, case_of, dialogue_problem, transcript
from synthaug.methods.medical.disc import KGQA, KGEntities, Preference, Reconstruct
from synthaug.methods.medical.huatuo2 import Unify, support
from synthaug.methods.medical.huatuogpt import Mix, kept_counts
from synthaug.methods.medical.seeds import Consultations
from synthaug.methods.medical.ultramedical import Complexity, Evolve, Feedback, settled_ranking
from synthaug.records import META, error_of

FAST = ["--set", "backend.threads=1", "--set", "backend.deterministic=true"]
DIALOGUE = [
    {"role": "patient", "content": "i got a cough for 3 weeks"},
    {"role": "doctor", "content": "Do you smoke?"},
    {"role": "patient", "content": "no"},
    {"role": "doctor", "content": "Could be reflux. come to my clinic"},
]


def context(reply: str) -> StepContext:
    """A context whose client answers ``reply`` (for the parsing of replies only)."""

    async def complete(request):
        return SimpleNamespace(text=reply, choices=[SimpleNamespace(finish_reason="stop")])

    llm = SimpleNamespace(complete=complete, key=lambda request: "key",
                          backend=SimpleNamespace(describe=lambda: "m"))  # fmt: skip
    return StepContext(llm=llm, run_seed=0, step_name="t")


def row(**fields) -> dict:
    return {**fields, META: {"id": "r0", "parents": []}}


async def consume(step, rows: list[dict], ctx: StepContext) -> list[dict]:
    async def feed():
        for item in rows:
            yield item

    return [item async for item in step.transform(feed(), ctx)]


def test_dialogues_are_checked_and_formatted():
    assert dialogue_problem(DIALOGUE) is None
    assert "turn 1 is not a patient turn" in dialogue_problem(DIALOGUE[1:])
    assert "turn 3 is empty" in dialogue_problem(
        [*DIALOGUE[:2], {"role": "patient", "content": " "}]
    )
    assert dialogue_problem([]) and dialogue_problem("text")
    assert transcript(DIALOGUE[:2]) == "Patient: i got a cough for 3 weeks\nDoctor: Do you smoke?"
    assert [m["role"] for m in as_messages(DIALOGUE)] == ["user", "assistant"] * 2
    assert case_of(DIALOGUE) == "- i got a cough for 3 weeks\n- no"


def test_shipped_consultations_load_and_a_bad_file_is_one_line(tmp_path):
    rows = Consultations().load()
    assert len(rows) == 24 and all(dialogue_problem(r["dialogue"]) is None for r in rows)
    assert {len(r["dialogue"]) for r in rows} == {2, 4}
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"dialogue": DIALOGUE}, {"dialogue": DIALOGUE[1:]}])
    run = run_cli("run", "disc_medllm", "--set", f"steps[0].params.path={bad}", *only_medqa(2),
                  "--out", str(tmp_path / "out.jsonl"), "--quiet", cwd=tmp_path)  # fmt: skip
    assert run.returncode == 2 and not (tmp_path / "out.jsonl").exists()
    (line,) = run.stderr.strip().splitlines()  # one line, no traceback
    assert line.endswith(
        "bad.jsonl:2: field 'dialogue': turn 1 is not a patient turn (the patient speaks first, "
        "then they alternate)"
    )


def test_rewrites_keep_every_turn_in_its_place():
    reply = '{"turns": ["I have coughed for three weeks.", "Do you smoke?", "No.", "It may be reflux."]}'
    (record,) = asyncio.run(Reconstruct().process(row(dialogue=DIALOGUE), context(reply)))
    assert [t["role"] for t in record["dialogue"]] == [t["role"] for t in DIALOGUE]
    assert (
        record["dialogue"][3]["content"] == "It may be reflux."
        and record["original_dialogue"] == DIALOGUE
    )
    assert record["messages"][0] == {"role": "user", "content": "I have coughed for three weeks."}
    # the preference rewrite changes the doctor turns only and keeps the first original
    reply = (
        '{"turns": ["How long, and any heartburn?", "Reflux is likely; see a GP if it persists."]}'
    )
    (pref,) = asyncio.run(Preference().process(row(dialogue=record["dialogue"], original_dialogue=DIALOGUE),
                                               context(reply)))  # fmt: skip
    assert pref["dialogue"][0] == record["dialogue"][0] and pref["original_dialogue"] == DIALOGUE
    assert pref["dialogue"][1]["content"] == "How long, and any heartburn?"
    (request,) = Preference().requests(row(dialogue=DIALOGUE), context(""))
    assert request.json_schema["properties"]["turns"]["minItems"] == 2
    with pytest.raises(RowError, match="expected 2 non-empty turns"):
        asyncio.run(Preference().process(row(dialogue=DIALOGUE), context('{"turns": ["one"]}')))
    with pytest.raises(RowError, match="turn 1 is not a patient turn"):
        Reconstruct().requests(row(dialogue=DIALOGUE[1:]), context(""))


TRIPLES = [("Gout", "treated with", "colchicine"), ("gout", "has symptom", "painful red joint"),
           ("gout", "caused by", "uric acid crystals"), ("asthma", "treated with", "salbutamol")]  # fmt: skip


def test_kg_entities_group_triples_and_kg_qa_checks_the_answer():
    rows = [{"subject": s, "relation": r, "object": o, META: {"id": f"t{i}"}}
            for i, (s, r, o) in enumerate(TRIPLES)]  # fmt: skip
    entities = asyncio.run(consume(KGEntities(max_triples=2), rows, context("")))
    assert [e["entity"] for e in entities] == ["Gout", "asthma"]
    assert len(entities[0]["triples"]) == 2 and len(entities[1]["triples"]) == 1
    assert entities[0][META]["parents"] == [t["triple_id"] for t in entities[0]["triples"]]
    assert asyncio.run(consume(KGEntities(max_triples=2), rows, context(""))) == entities
    gout = row(entity="gout", triples=[{"subject": s, "relation": r, "object": o}
                                       for s, r, o in TRIPLES[:3]])  # fmt: skip
    reply = '{"question": "How is gout treated?", "answer": "Gout attacks are treated with colchicine."}'
    (record,) = asyncio.run(KGQA().process(gout, context(reply)))
    assert record["stated_triples"] == [0] and record["verification"]["verified"]
    assert record["verification"]["kind"] == "kg_answer"
    assert record["messages"][1]["content"] == "Gout attacks are treated with colchicine."
    vague = '{"question": "What is gout?", "answer": "A kind of arthritis."}'
    (lost,) = asyncio.run(KGQA().process(gout, context(vague)))
    assert error_of(lost)["kind"] == "object_not_in_answer"


def test_chain_of_questioning_schedule_and_bianque_samples():
    assert allowed_actions(0, 1, 3) == ["ask"]
    assert allowed_actions(1, 1, 3) == ["ask", "suggest"]
    assert allowed_actions(3, 1, 3) == ["suggest"]
    assert allowed_actions(0, 0, 0) == ["suggest"]
    dialogue = [DIALOGUE[0], {**DIALOGUE[1], "action": "ask"}, DIALOGUE[2],
                {**DIALOGUE[3], "action": "suggest"}]  # fmt: skip
    samples = asyncio.run(Samples().process(row(dialogue=dialogue), context("")))
    assert [s["kind"] for s in samples] == ["question", "suggestion"]
    assert samples[0]["instruction"] == "Patient: i got a cough for 3 weeks\nDoctor:"
    assert (
        samples[1]["instruction"].endswith("Patient: no\nDoctor:")
        and samples[1]["output"] == DIALOGUE[3]["content"]
    )
    assert set(samples[0]) == {"instruction", "output", "messages", "kind", "turn", META}
    assert samples[1]["messages"][1] == {"role": "assistant", "content": DIALOGUE[3]["content"]}
    assert len({s[META]["id"] for s in samples}) == 2


def test_unify_support_is_checked():
    passage = "Gout is an inflammatory arthritis caused by uric acid crystals forming in a joint."
    assert support("Gout is caused by uric acid crystals.", passage) == 1.0
    assert support("Bananas contain potassium.", passage) == 0.0
    good = '{"question": "What causes gout?", "answer": "Gout is caused by uric acid crystals in a joint."}'
    (record,) = asyncio.run(Unify().process(row(text=passage), context(good)))
    assert record["instruction"] == "What causes gout?" and record["support"] == 1.0
    bad = '{"question": "What is potassium?", "answer": "Bananas contain potassium."}'
    (lost,) = asyncio.run(Unify().process(row(text=passage), context(bad)))
    assert error_of(lost)["kind"] == "unsupported_answer"


def test_mix_keeps_the_papers_proportions():
    paper = {"a": 61400, "b": 69768, "c": 68888, "d": 25986}
    assert kept_counts({"a": 100, "b": 100, "c": 100, "d": 100}, paper) == {
        "a": 88, "b": 100, "c": 99, "d": 37}  # fmt: skip
    assert kept_counts({"a": 2, "c": 2, "d": 2}, paper) == {"a": 2, "c": 2, "d": 1}
    assert kept_counts({"x": 5}, paper) == {}
    rows = [row(huatuogpt_source=kind) | {META: {"id": f"r{i}"}}
            for i, kind in enumerate(["distilled_instruction", "real_conversation"] * 3)]  # fmt: skip
    kept = asyncio.run(consume(Mix(), rows, context("")))
    kinds = [r["huatuogpt_source"] for r in kept]
    assert kinds.count("distilled_instruction") == 3 and kinds.count("real_conversation") == 1
    assert [r[META]["id"] for r in kept] == sorted(r[META]["id"] for r in kept)


def test_medqa_and_medmcqa_benchmarks_decontaminate():
    medqa, medmcqa = load_benchmark("medqa"), load_benchmark("medmcqa")
    assert len(medqa) == 1273 and len(medmcqa) == 4183
    assert len(medqa[0].text.split("\n")) == 6  # question and five options
    item = medqa[0].targets[0]
    step = Decontaminate(columns=["text"], benchmarks=["medqa", "medmcqa"])
    kept = asyncio.run(step.process(row(text=f"Patient asks: {item} Thanks."), context("")))
    clean = asyncio.run(step.process(row(text="My knee hurts after running, what should I do?"),
                                     context("")))  # fmt: skip
    assert kept == [] and len(clean) == 1


def test_counselling_sessions_are_cut_into_clips_and_judged(tmp_path):
    turns = [{"role": ("client", "counsellor")[i % 2], "content": f"t{i}"} for i in range(7)]
    assert [len(c) for c in clips(turns, 2)] == [4, 3]
    sessions = Sessions(rounds=2)
    rows = asyncio.run(_rows(sessions))
    assert len(rows) == 12 and {r["part"] for r in rows} == {0, 1}  # 6 sessions of 4 rounds
    assert rows[0]["clip"][0]["role"] == "client" and len(rows[0]["clip"]) == 4
    bad = write_jsonl(
        tmp_path / "bad.jsonl", [{"transcript": [{"role": "doctor", "content": "x"}]}]
    )
    with pytest.raises(InputError, match=r"bad.jsonl:1: field 'transcript'"):
        Sessions(path=str(bad)).load()
    scores = {k: 4 for k in COMPETENCIES} | {"Direct Guidance": 8}
    judged = Judge().keep(row(query="q", answer="a"), scores, "m")
    assert judged["counselling_score"] == round(32 / 7, 3) and judged["counselling_judge"] == "m"
    with pytest.raises(RowError, match=r"mean score 4\.571 < 6"):
        Judge(min_score=6).keep(row(query="q", answer="a"), scores, "m")
    with pytest.raises(RowError, match="not seven 1-10 scores"):
        Judge().keep(row(query="q", answer="a"), {"Information": 11}, "m")
    (request,) = [Judge().request(row(query="q", answer="a"), 0)]
    assert set(request.json_schema["properties"]) == set(COMPETENCIES)


async def _rows(source) -> list[dict]:
    return [item async for item in source.rows(context(""))]


def test_ultramedical_evolution_complexity_and_ranking():
    (evolved,) = asyncio.run(Evolve().process(row(question="What causes gout?"),
                                              context("Rewritten question: What causes gout in a 50-year-old man on diuretics, step by step?")))  # fmt: skip
    assert (
        evolved["question"].startswith("What causes gout in a 50")
        and evolved["original_question"] == "What causes gout?"
    )
    with pytest.raises(RowError, match="no rewritten question"):
        asyncio.run(
            Evolve().process(row(question="What causes gout?"), context("What causes gout?"))
        )
    reply = '{"justification": "One concept.", "score": 2}'
    (scored,) = asyncio.run(Complexity().process(row(question="q"), context(reply)))
    assert scored["complexity"] == 2 and scored["complexity_justification"] == "One concept."
    (simple,) = asyncio.run(Complexity(min_complexity=3).process(row(question="q"), context(reply)))
    assert error_of(simple)["kind"] == "too_simple"
    assert settled_ranking([3, 5, 1], [2, 1, 3]) == [1, 0, 2]  # agrees with the scores
    assert settled_ranking([3, 5, 1], [1, 2, 3]) == [1, 0, 2]  # disagrees: by score
    assert settled_ranking([4, 4, 2], [2, 1, 3]) == [1, 0, 2]  # a tie in the judge's order
    assert settled_ranking([4, 4, 2], [1, 1, 1]) == [0, 1, 2]  # not a permutation
    completions = [{"response": "short"}, {"response": "detailed"}]
    judged = Feedback().keep(row(question="q", completions=completions),
                             {"feedback": [{"evaluation": "vague", "score": 2},
                                           {"evaluation": "good", "score": 4}],
                              "ranking": [2, 1]}, "m")  # fmt: skip
    assert (
        judged["chosen"] == "detailed"
        and judged["rejected"] == "short"
        and judged["ranking"] == [1, 0]
    )
    with pytest.raises(RowError, match="not one feedback per completion"):
        Feedback().keep(row(question="q", completions=completions), {"feedback": []}, "m")
    with pytest.raises(RowError, match="nothing to rank"):
        Feedback().request(row(question="q", completions=completions[:1]), 0)
    (request,) = [Feedback().request(row(question="q", completions=completions), 0)]
    assert request.json_schema["properties"]["ranking"]["items"] == {"enum": [1, 2]}


def run_once(cwd: Path, recipe: str, *args: str) -> tuple[list[dict], list[dict]]:
    """One ``synthaug run`` in this process (the CLI's own entry point; saves a Python start
    and the registry's imports per run): its records and error rows."""
    out, errors = cwd / "data.jsonl", cwd / "data.errors.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNTHAUG_CACHE", str(cwd / "cache.sqlite3"))
        code = main(["run", recipe, *args, *FAST, "--out", str(out), "--quiet"])
    assert code == 0
    return read_jsonl(out), read_jsonl(errors) if errors.exists() else []


def only_medqa(step: int) -> list[str]:
    """Decontaminate against MedQA alone (loading MMLU's 14k items costs seconds a run)."""
    return ["--set", f"steps[{step}].params.benchmarks=[medqa]"]


def test_disc_medllm_and_preference_recipes(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    records, failed = run_once(tmp_path / "a", "disc_medllm", "--set", "steps[0].params.count=1")
    assert records and not failed
    for record in records:
        assert dialogue_problem(record["dialogue"]) is None
        assert len(record["dialogue"]) == len(record["original_dialogue"])
        assert record["messages"] == as_messages(record["dialogue"])
    prefs, failed = run_once(tmp_path / "b", "disc_preference", "--set", "steps[0].params.count=1",
                             *only_medqa(2))  # fmt: skip
    assert prefs and not failed
    for record in prefs:
        patients = [t for t in record["dialogue"] if t["role"] == "patient"]
        assert patients == [t for t in record["original_dialogue"] if t["role"] == "patient"]
        assert record["dialogue"] != record["original_dialogue"]


def test_disc_kg_qa_and_huatuogpt_ii_recipes(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    records, failed = run_once(tmp_path / "a", "disc_kg_qa", "--set", "steps[1].params.count=3",
                               *only_medqa(3))  # fmt: skip
    assert len(records) + len(failed) == 3
    assert {error_of(e)["kind"] for e in failed} <= {"object_not_in_answer", "malformed_output"}
    for record in records:
        assert record["verification"]["verified"] and record["stated_triples"]
        assert record["messages"][1]["content"] == record["answer"]
    assert records, failed
    check = run_cli("verify", str(tmp_path / "a" / "data.jsonl"), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    unified, failed = run_once(tmp_path / "b", "huatuogpt_ii", "--set", "steps[0].params.count=2",
                               "--set", "steps[1].params.max_tokens=160", *only_medqa(2))  # fmt: skip
    assert len(unified) + len(failed) == 2 and unified, failed
    for record in unified:
        assert record["support"] >= 0.3 and record["instruction"] and record["output"]
    for error in failed:
        assert error_of(error)["kind"] in {"unsupported_answer", "malformed_output"}


def test_huatuogpt_recipe_mixes_distilled_and_real_data(tmp_path):
    records, failed = run_once(
        tmp_path, "huatuogpt", "--set", "steps[0].params.count=1",
        "--set", "steps[1].params.rounds=1", "--set", "steps[1].params.doctor_max_tokens=48",
        "--set", "steps[1].params.max_tokens=160", *only_medqa(2),
    )  # fmt: skip
    kinds = [r["huatuogpt_source"] for r in records]
    assert len(kinds) == len(set(kinds)) and "distilled_instruction" in kinds
    assert set(kinds) <= {"distilled_instruction", "distilled_conversation", "real_conversation"}
    for record in records:
        assert dialogue_problem(record["dialogue"]) is None
        assert record["messages"] == as_messages(record["dialogue"])
    for error in failed:
        assert error["huatuogpt_source"] not in kinds


def test_bianque_dialogue_resumes_after_kill(tmp_path):
    records = resume_after_kill(
        tmp_path, "bianque", "--set", "steps[0].params.count=1",
        "--set", "steps[1].params.max_questions=1", "--set", "steps[1].params.doctor_max_tokens=64",
        "--set", "steps[1].params.patient_max_tokens=48", "--set", "backend.parallel=1",
        *only_medqa(2), *FAST, after_calls=2,
    )[0]  # fmt: skip
    assert {r["kind"] for r in records} <= {"question", "suggestion"}
    for record in records:
        assert record["instruction"].startswith("Patient: ") and record["instruction"].endswith(
            "\nDoctor:"
        )
        assert record["output"].strip() and record["messages"][1]["content"] == record["output"]
    # at least one question first (min_questions), at most one (max_questions), then the suggestion
    assert [r["kind"] for r in records] == ["question", "suggestion"]


def test_chatcounselor_recipe_rates_the_pairs(tmp_path):
    records, failed = run_once(
        tmp_path, "chatcounselor", "--set", "steps[0].params.count=1",
        "--set", "steps[0].params.rounds=4", "--set", "steps[1].params.max_tokens=200",
        "--set", "steps[1].params.field_chars=150",
        *only_medqa(3),
    )  # fmt: skip
    assert records and len(records) + len(failed) == 1
    for record in records:
        assert set(record["counselling_scores"]) == set(COMPETENCIES)
        assert 1 <= record["counselling_score"] <= 10
        assert record["messages"][0] == {"role": "user", "content": record["query"]}
        assert len(record["clip"]) == 8


def test_ultramedical_recipe_ranks_candidates(tmp_path):
    records, failed = run_once(
        tmp_path, "ultramedical", "--set", "steps[0].params.count=1",
        "--set", "steps[4].params.per_prompt=2", "--set", "steps[4].params.max_tokens=64",
        *only_medqa(3),
    )  # fmt: skip
    assert records and not failed
    for record in records:
        assert record["question"] != record["original_question"] and 1 <= record["complexity"] <= 10
        assert sorted(record["ranking"]) == [0, 1] and len(record["feedback"]) == 2
        responses = [c["response"] for c in record["completions"]]
        assert record["chosen"] == responses[record["ranking"][0]]
        assert record["rejected"] == responses[record["ranking"][1]]
        scores = [f["score"] for f in record["feedback"]]
        assert scores[record["ranking"][0]] >= scores[record["ranking"][1]]
