"""Selective Reflection-Tuning: the reference's reply parsing and fallbacks, the student's
selection rule on real IFD / r-IFD readings of the embedded model, and the recipe end to end."""

from __future__ import annotations

import asyncio
import math

from conftest import read_jsonl, run_recipe_twice

from synthaug.engine.step import StepContext
from synthaug.llm.client import LLMClient
from synthaug.llm.types import ChatRequest, Completion
from synthaug.methods.common.logprobs import forced_budget, forced_grammar
from synthaug.methods.selection.reflection import (
    ReflectInstruction,
    ReflectResponse,
    Scores,
    SelectReflected,
    choose,
    parse_better_answers,
    parse_new_pair,
)
from synthaug.methods.selection.scores import answer_loss
from synthaug.records import META

VICUNA = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the user's questions. USER: {} ASSISTANT:"
)


def _reply(text: str) -> Completion:
    return Completion.model_validate({"choices": [{"text": text, "finish_reason": "stop"}]})


def test_reflection_replies_are_read_as_the_reference_reads_them():
    text = (
        "1. The instruction is vague.\n2. [New Instruction] Explain why the sky is blue "
        "at noon. [End]3. [New Answer] Rayleigh scattering favours short wavelengths. [End]"
    )
    assert parse_new_pair(text) == (
        "Explain why the sky is blue at noon.",
        "Rayleigh scattering favours short wavelengths.",
    )
    assert parse_new_pair("New Instruction: Do X.\n\n3.New Answer: Y") == ("Do X.", "Y")
    assert parse_better_answers("Bad.\n[Better Answer] Paris. [End]") == ["Paris."]
    # the reference's regex consumes the second tag when it ends the first answer
    assert parse_better_answers("[Better Answer] a [Better Answer] b [End]") == ["a"]
    two = "[Better Answer] a [End] [Better Answer] b [End]"
    assert parse_better_answers(two) == ["a", "b"]
    row = {"instruction": "Say hi.", "output": "Hi.", META: {"id": "r"}}
    step = ReflectInstruction()
    placeholder = "[New Instruction] your instruction [End] [New Answer] N/A [End]"
    assert step.parse(row, [_reply(placeholder)]) == {
        "reflected_instruction": "Say hi.",
        "reflected_instruction_output": "Hi.",
    }
    response = ReflectResponse(on_reflected_instruction=False)
    assert response.parse(row, [_reply(two)]) == {
        "reflected_output": "Hi."
    }  # two better answers: the reference keeps the original
    assert response.output_columns({"instruction", "output"}) == {
        "instruction",
        "output",
        "reflected_output",
    }


def test_response_rule_keeps_a_lower_r_ifd_only_below_one():
    base, better = Scores(0.8, 0.9), Scores(0.7, 0.6)
    assert choose(base, better, "Q", "QA", False) == "QA"
    assert choose(base, Scores(1.2, 0.6), "Q", "QA", False) is None  # IFD >= 1
    assert choose(base, Scores(0.7, 0.95), "original", "A", False) is None  # r-IFD not lower
    assert choose(base, Scores(0.7, 0.95), "original", "A", True) == "original"
    assert choose(Scores(1.1, 0.9), Scores(0.7, 0.95), "Q", "QA", True) is None
    assert forced_budget("héllo", 2048) == 7 and forced_budget("x" * 10, 4) == 4


def test_the_student_selects_by_ifd_and_r_ifd_on_real_readings(local_backend):
    llm = LLMClient(local_backend)
    row = {
        "instruction": "Name a primary color.",
        "input": "",
        "output": "Blue.",
        "reflected_instruction": "Name the three primary colors of paint.",
        "reflected_instruction_output": "Red, yellow and blue.",
        "reflected_output": "Red is a primary color.",
        "reflected_pair_output": "The primary colors of paint are red, yellow and blue.",
        META: {"id": "r1"},
    }
    step = SelectReflected(name="select", keep_unimproved=True)
    ctx = StepContext(llm, run_seed=0, step_name="select")
    [out] = asyncio.run(step.process(row, ctx))
    scores = out.get("reflection_scores")
    new_instruction = scores["Q"]["ifd"] > scores["original"]["ifd"]
    base, reflected = ("Q", "QA") if new_instruction else ("original", "A")
    assert set(scores) == {"original", "Q", reflected}

    def loss(prompt: str, text: str) -> float:
        request = ChatRequest(prompt=prompt, temperature=0, max_tokens=len(text) + 1,
                              grammar=forced_grammar(text), logprobs=True)  # fmt: skip
        return answer_loss(asyncio.run(llm.complete(request)))

    # the original pair's IFD from the reference's vicuna format, read independently
    ifd = math.exp(loss(VICUNA.format(row["instruction"]), "Blue.") - loss("\n", "Blue."))
    assert scores["original"]["ifd"] == round(ifd, 4)
    guess = (
        "Below is the response to an instruction, please guess the corresponding instruction "
        "for the given response.\nBlue.\nGenerate the instruction for the above response."
    )
    rifd = math.exp(loss(VICUNA.format(guess), row["instruction"]) - loss("\n", row["instruction"]))
    assert scores["original"]["rifd"] == round(rifd, 4)

    def passes(name: str) -> bool:
        return scores[name]["ifd"] < 1 and scores[name]["rifd"] < 1

    if scores[reflected]["rifd"] < scores[base]["rifd"]:
        expected = reflected if passes(reflected) else None
    else:
        expected = base if passes(base) else None
    if expected is None:
        assert out[META]["error"]["kind"] == "not_selected"
    else:
        assert out["reflection_choice"] == expected
        kept = {"original": ("instruction", "output"), "A": ("instruction", "reflected_output"),
                "Q": ("reflected_instruction", "reflected_instruction_output"),
                "QA": ("reflected_instruction", "reflected_pair_output")}[expected]  # fmt: skip
        assert (out["instruction"], out["output"]) == (row[kept[0]], row[kept[1]])
        assert out["original_output"] == "Blue."


def test_reflection_tuning_recipe_on_the_embedded_model(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "reflection_tuning",
        "--limit", "1",
        "--set", "backend.deterministic=true", "--set", "backend.threads=1",
        "--set", "steps[1].params.max_tokens=96",
        "--set", "steps[2].params.max_tokens=48",
    )  # fmt: skip
    errors_path = tmp_path / "data.errors.jsonl"
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert len(records) + len(errors) == 1
    for error in errors:
        assert error[META]["error"]["kind"] == "not_selected"
        assert {"original", "Q"} <= set(error["reflection_scores"])
    for record in records:
        assert record["reflection_choice"] in {"QA", "A"}
        chosen = record["reflection_scores"][record["reflection_choice"]]
        assert chosen["ifd"] < 1 and chosen["rifd"] < 1
        assert record["original_output"] and record[META]["step"] == "select"
