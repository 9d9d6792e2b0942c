"""Persona Hub: parsing on recorded outputs, the prompts, and the pipeline on the embedded model
(text-to-persona, persona-to-persona hops resumed after a kill, MinHash dedup, synthesis)."""

from __future__ import annotations

import pytest
from conftest import resume_after_kill, run_cli

from synthaug.engine.resources import RunResources
from synthaug.engine.step import RowError, StepContext
from synthaug.methods.instruct import persona as persona_module
from synthaug.methods.instruct.persona import (
    PREFIXES,
    expansion_problem,
    parse_persona,
    parse_tool,
    strip_prefix,
    synthesized,
)
from synthaug.methods.registry import get_method
from synthaug.methods.templates import render
from synthaug.recipe import load_recipe

# Recorded from SmolLM2-135M (Q4_1) under the text-to-persona schema, for the seed tasks
# "Is there anything I can eat for a breakfast ..." and "What is the relation between ...".
TEXT_PERSONA = '{\n  "relation": "fan",\n  "persona": "johnburnslammagotlacelia"\n}'
TEXT_PERSONA_RAMBLING = (
    '{"relation" : "fan", "persona" : "fanslaterrats} The person mentioned in the text is a fan, '
    'specifically who loves and appreciates the genre of "\n\n}'
)
# Recorded from SmolLM2-135M answering the math prompt (max_tokens=128; cut off).
MATH_QUOTED = (
    '"Math problem: \nThe fandemonk of the town is a famous fad, and it has become a favorite '
    "among the fanciful, but it is also a favorite among the practical."
)
MATH_NO_PREFIX = "Alicia: \nThe math problem: \nSolve 2 + 2 + 2 + 2 + 1 = 16 for x.\n"
# Recorded from SmolLM2-135M under the tool schema (max_tokens=96): cut off before "return".
TOOL_CUT_OFF = (
    '{\n  "name": "john mason jones jonjohn",\n  "description": "john MASON JONDRONE, JONES, '
    'JONES JONJON",\n  "function_name": "johnMasonJonesJONSJJ",\n  "input_args": '
    '"johnMasonJonesJJJJJJJ",\n  "return" :'
)
# Recorded from SmolLM2-135M answering the persona-to-persona prompt.
HOP_ECHO = '{"relation" :"john jones jones jonjohn", "persona" :"john jones jones jonjohn"}'


def test_persona_replies_are_parsed_on_recorded_outputs():
    assert parse_persona(TEXT_PERSONA) == ("fan", "johnburnslammagotlacelia")
    relation, rambling = parse_persona(TEXT_PERSONA_RAMBLING)
    assert relation == "fan" and rambling.startswith("fanslaterrats} The person")
    assert rambling.endswith("the genre of")  # whitespace collapsed and trimmed
    assert parse_persona('{"relation": "caregiver", "persona": "  A nurse\\n who  cares "}') == (
        "caregiver",
        "A nurse who cares",
    )
    assert parse_persona('{"relation": "fan", "persona": "A ret') is None  # cut off
    assert parse_persona('{"relation": "fan", "persona": ""}') is None
    assert parse_persona('["fan"]') is None


def test_expansion_stops_on_unusable_or_repeated_personas():
    assert expansion_problem(None, "johnny") == "unusable_persona"
    hop = parse_persona(HOP_ECHO)
    assert expansion_problem(hop, "john jones jones jonjohn") == "same_persona"
    assert expansion_problem(("friend", "Johnny"), " johnny ") == "same_persona"
    assert expansion_problem(("caregiver", "A night-shift nurse"), "A patient") is None


def test_prefixes_are_parsed_off_and_recorded_on_recorded_outputs():
    text, present = strip_prefix(MATH_QUOTED, "Math problem:")
    assert present is True and text.startswith("The fandemonk of the town")
    text, present = strip_prefix(MATH_NO_PREFIX, "Math problem:")
    assert present is False and text == MATH_NO_PREFIX.strip()
    assert strip_prefix("**Title:** How to prune roses", "Title:") == ("How to prune roses", True)
    assert synthesized("User prompt: Plan my week.", "instruction") == ("Plan my week.", True)
    with pytest.raises(RowError, match="nothing after the prefix"):
        synthesized("Math problem:   ", "math")


def test_tool_replies_are_complete_interfaces():
    reply = (
        '{"name": "Rose care planner", "description": "Plans pruning dates.", '
        '"function_name": "plan_pruning", "input_args": "variety, climate", '
        '"return": "a list of dates", "depend": "none"}'
    )
    assert '"function_name": "plan_pruning"' in parse_tool(reply)
    assert parse_tool(TOOL_CUT_OFF) is None
    with pytest.raises(RowError, match="function interface"):
        synthesized('{"name": "x", "function_name": ""}', "tools")


def test_every_target_prompt_has_the_persona_slot_and_its_prefix():
    for target, prefix in PREFIXES.items():
        prompt = render(persona_module.__file__, f"persona_{target}.j2", persona="A beekeeper")
        assert "A beekeeper" in prompt
        assert prefix is None or f'"{prefix}"' in prompt
    math = render(persona_module.__file__, "persona_math.j2", persona="A beekeeper")
    assert "at most 2 sub-problems" in math and "not give the solution" in math
    text = render(persona_module.__file__, "persona_text_to_persona.j2", text="Bees dance.")
    assert all(word in text for word in ("read", "write", "like", "dislike", "specific"))
    hop = render(persona_module.__file__, "persona_to_persona.j2", persona="A patient")
    assert "close relationship" in hop


# Personas written for this test. Two pairs say the same with other words: MinHash on 1-grams
# sees Jaccard 0.69 and 0.36 (under the paper's 0.9), the MiniLM cosine 0.963 and 0.942 (over
# the paper's 0.9). The others are related but different people (cosine at most 0.64).
PERSONAS = [
    "A retired chemistry teacher who volunteers at the local library.",
    "A night-shift nurse in a children's hospital.",
    "A retired high-school chemistry teacher who now volunteers at the town library.",
    "A nurse who works night shifts at a children's hospital.",
    "A pediatrician who runs a small rural clinic.",
    "A beekeeper who sells honey at the farmers' market.",
    "A farmer who sells vegetables at the farmers' market.",
    "A software engineer who maintains open-source compilers.",
]


def test_recipe_dedups_personas_by_minhash_then_by_embedding_cosine():
    recipe = load_recipe("persona_hub")
    methods = [step.method for step in recipe.steps]
    near, semantic = methods.index("dedup_near"), methods.index("dedup_semantic")
    assert near < semantic < methods.index("persona_hub.synthesize")
    rows = [{"persona": p} for p in PERSONAS]
    ctx = StepContext(llm=None, run_seed=0, step_name="dedup", resources=RunResources())
    for index in (near, semantic):
        config = recipe.steps[index]
        step = get_method(config.method).step(config.name, **config.params)
        texts = [row["persona"] for row in rows]
        rows = [rows[i] for i in sorted(step.kept(rows, texts, ctx))]
    assert [row["persona"] for row in rows] == [
        PERSONAS[i] for i in range(len(PERSONAS)) if i not in (2, 3)
    ]


def test_bad_parameters_give_exit_2_with_the_yaml_path(tmp_path):
    bad = run_cli("run", "persona_hub", "--set", "steps[5].params.target=poetry", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[5].params.target" in bad.stderr
    zero = run_cli("run", "persona_hub", "--set", "steps[2].params.iterations=0", cwd=tmp_path)
    assert zero.returncode == 2 and "steps[2].params.iterations" in zero.stderr


# seed 1: the embedded model writes a usable first persona with 1 thread (a pinned xdist
# worker) and with 2 (llama.cpp's sums, hence its samples, change with the thread count)
ARGS = [
    "persona_hub",
    "--limit",
    "1",
    "--set",
    "seed=1",
    "--set",
    "steps[1].params.max_tokens=40",
    "--set",
    "steps[2].params.iterations=2",
    "--set",
    "steps[2].params.max_tokens=40",
    "--set",
    "steps[5].params.target=instruction",
    "--set",
    "steps[5].params.max_tokens=32",
]


def test_persona_hops_resume_after_kill_without_repeating_calls(tmp_path):
    records, summary, _ = resume_after_kill(tmp_path, *ARGS, after_calls=2)
    assert sum(1 for r in records if r["persona_hop"] == 0) == 1
    personas = {r["persona"] for r in records}
    dedups = [step for step in summary["steps"] if step["method"].startswith("dedup_")]
    assert [step["method"] for step in dedups] == ["dedup_near", "dedup_semantic"]
    removed = sum(step["rows_in"] - step["rows_out"] for step in dedups)
    for record in records:
        assert record["persona"] and record["persona_source"] in ("text", "persona")
        assert record["target"] == "instruction" and record["synthesized_text"]
        assert isinstance(record["prefix_present"], bool)
        meta = record["_meta"]
        assert meta["method"] == "persona_hub.synthesize" and len(meta["request"]) == 1
        if record["persona_hop"] == 0:
            assert record["persona_source"] == "text" and record["persona_parent"] is None
            assert record["persona_relation"] in ("reader", "writer", "fan", "critic")
        else:
            assert record["persona_source"] == "persona" and record["persona_parent"]
            assert record["persona_parent"] in personas or removed > 0
