"""Unit tests of Unnatural Instructions, Code Alpaca and LongForm: prompt building, parsing,
filters and the packaged seeds (no model)."""

from __future__ import annotations

import random
import re

import pytest
from pydantic import ValidationError

from synthaug.engine.step import RowError, StepContext
from synthaug.errors import InputError
from synthaug.llm.types import Choice, Completion
from synthaug.methods.instruct import code_alpaca, longform, unnatural
from synthaug.methods.instruct.self_instruct import load_seed_tasks
from synthaug.recipe import build_pipeline, load_recipe
from synthaug.records import source_record

DOCUMENT = (
    "The river rose overnight. Volunteers stacked sandbags along the quay before dawn. "
    "By noon the water had reached the first step of the church. Nobody was hurt."
)


def completion(text: str, finish_reason: str = "stop") -> Completion:
    return Completion(choices=[Choice(text=text, finish_reason=finish_reason)])


@pytest.mark.parametrize("name", ["unnatural_instructions", "code_alpaca", "longform"])
def test_recipes_build_and_validate_their_columns(name):
    pipeline = build_pipeline(load_recipe(name))
    assert pipeline.uses_llm and pipeline.steps


# Unnatural Instructions


def test_unnatural_seed_prompts_are_five_triplets_of_complete_examples():
    prompts = unnatural.load_seed_prompts(None, 3)
    assert len(prompts) == 5 and all(len(p) == 3 for p in prompts)
    examples = [e for p in prompts for e in p]
    assert len({e["instruction"] for e in examples}) == 15
    assert all(all(e[f] for f in unnatural.FIELDS) for e in examples)


def test_unnatural_bad_seed_file_is_an_input_error_before_any_model_call(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"instruction": "Say hi.", "input": "Bob"}\n', encoding="utf-8")
    with pytest.raises(InputError) as error:
        unnatural.Generate(seed_path=str(seeds))
    assert "seeds.jsonl" in str(error.value) and "constraints" in str(error.value)
    seeds.write_text('{"instruction": "Say hi.", "input": "Bob", "constraints": "None."}\n')
    with pytest.raises(InputError, match="1 seed examples; a prompt shows 3"):
        unnatural.Generate(seed_path=str(seeds))


def test_unnatural_prompt_shows_three_examples_and_asks_for_the_fourth():
    step = unnatural.Generate(num_examples=1)
    shown = unnatural.load_seed_prompts(None, 3)[1]
    request = step.request(shown, seed=7)
    assert request.messages is None and request.top_p == 0.99 and request.seed == 7
    prompt = request.prompt
    assert prompt.endswith("Example 4\n")
    positions = [
        prompt.index(f"Example {k}\nInstruction: {e['instruction']}")
        for k, e in enumerate(shown, 1)
    ]
    assert positions == sorted(positions)
    for example in shown:
        assert f"Input: {example['input']}\nConstraints: {example['constraints']}" in prompt


def test_unnatural_parse_example_reads_three_fields_and_stops_at_the_next_example():
    text = (
        " \nInstruction: Count the words.\nInput: one two\nthree\n"
        "Constraints: The output should be a number.\n\nExample 5\nInstruction: more"
    )
    assert unnatural.parse_example(text) == {
        "instruction": "Count the words.",
        "input": "one two\nthree",
        "constraints": "The output should be a number.",
    }
    assert unnatural.parse_example("Instruction: Count.\nInput: a b\n") is None
    assert unnatural.parse_example("Instruction: Count.\nInput: \nConstraints: None.") is None


def test_unnatural_filters_copied_demonstrations_and_exact_duplicates():
    shown = unnatural.load_seed_prompts(None, 3)[0]
    copied = f"Instruction: Say it again.\nInput: {shown[2]['input']}\nConstraints: None."
    assert unnatural.check_example(copied, shown, set())[1][0] == "copied_demonstration"
    fresh = "Instruction: Name a colour.\nInput: sky\nConstraints: One word."
    example, problem = unnatural.check_example(fresh, shown, set())
    assert problem is None and example["input"] == "sky"
    seen = {(unnatural.key("Name  a\ncolour."), unnatural.key(" sky"))}
    assert unnatural.check_example(fresh, shown, seen)[1][0] == "duplicate"
    assert unnatural.check_example("no fields", shown, set())[1][0] == "missing_fields"


def test_unnatural_reformulation_needs_the_input_placeholder():
    prompt = unnatural.Paraphrase().request("Sort the numbers.", 3).prompt
    assert prompt.count("{INPUT}") >= 4 and prompt.rstrip().endswith("Alternative formulation:")
    assert "Instruction: Sort the numbers.\nInput: {INPUT}" in prompt
    kept = unnatural.parse_reformulation(' Put "{INPUT}" in order.\n\nExample 5')
    assert kept == 'Put "{INPUT}" in order.'
    assert unnatural.parse_reformulation("Put the numbers in order.") is None


def test_unnatural_paper_defaults():
    generate, outputs = unnatural.GenerateParams(), unnatural.OutputsParams()
    assert (generate.examples_per_prompt, generate.top_p, generate.num_examples) == (
        3,
        0.99,
        64_000,
    )
    assert outputs.temperature == 0


# Code Alpaca


def test_code_alpaca_seeds_are_twenty_code_tasks_with_an_output():
    tasks = load_seed_tasks(_code_seed_path())
    assert len(tasks) == 20
    assert all(t["instances"][0]["output"].strip() for t in tasks)


def _code_seed_path() -> str:
    from importlib import resources

    return str(resources.files("synthaug") / "data" / code_alpaca.SEED_TASKS)


def test_code_alpaca_prompt_lists_three_seed_tasks_and_opens_the_fourth():
    step = code_alpaca.Generate(num_instructions=1)
    tasks = load_seed_tasks(_code_seed_path())
    ctx = StepContext(llm=None, run_seed=0, step_name="tasks")
    request = step.prompt_request(ctx, 5, tasks, [], [])
    prompt = request.prompt
    assert (request.temperature, request.top_p) == (1.0, 1.0) and "\n20" in request.stop
    assert "set of 20 diverse code generation task instructions" in prompt
    assert "All tasks should be coding or programming related." in prompt
    assert prompt.endswith("###\n4. Instruction:")
    shown = re.findall(r"^(\d)\. Instruction: (.*)$", prompt, re.MULTILINE)
    assert [n for n, _ in shown] == ["1", "2", "3"]
    by_instruction = {code_alpaca.seed_example(t)["instruction"]: t for t in tasks}
    for _, instruction in shown:
        assert instruction in by_instruction
        if not by_instruction[instruction]["instances"][0]["input"]:
            assert f"{instruction}\n" in prompt and "<noinput>" in prompt
    again = step.prompt_request(ctx, 5, tasks, [], [])
    other = step.prompt_request(ctx, 6, tasks, [], [])
    assert again.prompt == prompt and other.prompt != prompt


def test_code_alpaca_parses_numbered_blocks_and_drops_a_truncated_last_one():
    text = (
        " Reverse a linked list in Python.\n4. Input:\n<noinput>\n4. Output:\ndef rev(h): ...\n"
        "###\n5. Instruction: Explain what this SQL query returns.\n5. Input:\nSELECT 1;\n"
        "5. Output:\nA single row holding 1.\n###\n6. Instruction: Broken block\n6. Output:\nx\n"
        "###\n7. Instruction: Write a Go function that adds two\n7. Input:\n"
    )
    examples = code_alpaca.parse_examples(text, shown=3, truncated=False)
    assert [e["instruction"] for e in examples] == [
        "Reverse a linked list in Python.",
        "Explain what this SQL query returns.",
    ]
    assert examples[0]["input"] == "" and examples[1]["input"] == "SELECT 1;"
    assert examples[1]["output"] == "A single row holding 1."
    cut = code_alpaca.parse_examples(text.split("###\n6.")[0], shown=3, truncated=True)
    assert [e["instruction"] for e in cut] == ["Reverse a linked list in Python."]


def test_code_alpaca_candidates_pass_the_alpaca_blacklist_and_filters():
    step = code_alpaca.Generate(num_instructions=1)
    blocks = [
        ("Draw a flowchart of the login process.", "x"),
        ("Write a program that prints the primes below 50.", "x"),
        ("Sort this list of tuples by their second element.", "[(1, 'b'), (2, 'a')]"),
        ("Fix it.", "x"),
    ]
    text = "###\n".join(
        f"{'' if n == 4 else f'{n}. Instruction:'} {ins}\n{n}. Input:\n{inp}\n{n}. Output:\nok\n"
        for n, (ins, inp) in enumerate(blocks, 4)
    )
    kept = step._candidates(completion(text))
    assert [c["instruction"] for c in kept] == [blocks[2][0]]


# LongForm


def test_longform_cut_keeps_whole_sentences_within_the_word_limit():
    cut, truncated = longform.cut_to_words(DOCUMENT, 12)
    assert truncated and len(cut.split()) <= 12
    assert DOCUMENT.startswith(cut) and cut.endswith(".")
    assert longform.cut_to_words(DOCUMENT, 500) == (DOCUMENT, False)


def test_longform_length_phrase_counts_the_output():
    rng = random.Random(0)
    phrases = {longform.length_phrase(DOCUMENT, rng) for _ in range(20)}
    sentences = len(re.findall(r"[.!?](\s|$)", DOCUMENT))
    words = round(len(DOCUMENT.split()), -1)
    assert phrases == {f"Respond in {sentences} sentences.", f"Respond in about {words} words."}
    two = DOCUMENT + "\n\n" + DOCUMENT
    assert longform.length_phrase(two, rng) == "Respond in 2 paragraphs."


@pytest.mark.parametrize("style", longform.STYLES)
def test_longform_templates_put_the_document_as_the_answer_to_x(style):
    from synthaug.methods.templates import render

    prompt = render(longform.__file__, f"longform_{style}.j2", document=DOCUMENT)
    assert DOCUMENT in prompt and prompt.endswith("X:") and prompt.count(" X") >= 1


def test_longform_styles_follow_the_weights_and_short_documents_are_dropped():
    step = longform.Reverse(style_weights={"instruction": 3, "search": 1}, min_words=5)
    ctx = StepContext(llm=None, run_seed=0, step_name="reverse")
    rows = [source_record({"document": DOCUMENT}, source="t", index=i) for i in range(200)]
    styles = [step.plan(row, ctx)["style"] for row in rows]
    assert set(styles) == {"instruction", "search"}
    assert 0.6 < styles.count("instruction") / len(styles) < 0.9
    short = source_record({"document": "Too short."}, source="t", index=0)
    with pytest.raises(RowError) as error:
        step.plan(short, ctx)
    assert error.value.kind == "too_short"
    with pytest.raises(ValidationError):
        longform.ReverseParams(style_weights={"chatbot": -1})


def test_longform_parse_takes_the_first_paragraph_without_quotes():
    assert longform.parse_instruction(' "Describe the flood."\n\nOutput: ...') == (
        "Describe the flood."
    )
    assert longform.parse_instruction("Summarise the news.\nReply: The town opened ...") == (
        "Summarise the news."
    )
    assert longform.parse_instruction("List two causes\nof the flood.") == (
        "List two causes\nof the flood."
    )
    assert longform.parse_instruction("   ") == ""
