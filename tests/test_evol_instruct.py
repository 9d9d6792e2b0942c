"""Evol-Instruct: the eliminator on recorded outputs, and the loop on the embedded model."""

from __future__ import annotations

import random

from conftest import resume_after_kill

from synthaug.methods.instruct.evol_instruct import (
    DATA_FORMATS,
    OPERATIONS,
    cheap_elimination,
    evolution_prompt,
    judged_equal,
)
from synthaug.methods.instruct.seeds import seed_fields

# recorded from SmolLM2-135M answering the add_constraints and breadth prompts
COPIED = (
    "This challenge requires an additional constraint:\nAdd only one more constraint to "
    "#Rewritten Prompt#, which is to ensure that the given prompt meets a specific requirement:"
)
CREATED = (
    "What a delightful combination of ideas! I have created a new prompt that combines a birthday "
    "party and a tribute to the famous entrepreneur named Frederic Levesinter."
)


def test_eliminator_rules():
    assert cheap_elimination(COPIED, "Here are three ideas for the party.") == "copied_meta_words"
    assert cheap_elimination(CREATED, "Sorry, I cannot help with that.") == "sorry_short_answer"
    long_sorry = "Sorry for the wait. " + "Here is a detailed plan with many steps. " * 20
    assert cheap_elimination(CREATED, long_sorry) is None
    assert cheap_elimination(CREATED, "... the, and of it!") == "stop_words_only_answer"
    assert cheap_elimination("", "anything") == "empty_instruction"
    assert (
        cheap_elimination(CREATED, "Three ideas: a picnic, a quiz night, a tribute dinner.") is None
    )


def test_equality_judge_parsing():
    assert judged_equal('{"judgement": "Equal"}')
    assert not judged_equal('{"judgement": "Not Equal"}')
    assert not judged_equal('{"judgement": "Eq')  # cut off: the evolution stands


def test_prompts_and_operations():
    assert len(OPERATIONS) == 6
    depth = evolution_prompt("Sort the list.", "increase_reasoning")
    assert "multi-step reasoning" in depth and depth.rstrip().endswith("#Rewritten Prompt#:")
    assert "10 to 20 words" in depth and "Sort the list." in depth
    breadth = evolution_prompt("Sort the list.", "breadth")
    assert "rarer" in breadth and breadth.rstrip().endswith("#Created Prompt#:")
    picks = {random.Random(seed).choice(OPERATIONS) for seed in range(200)}
    assert picks == set(OPERATIONS)


def test_complicate_input_is_few_shot_over_the_papers_data_formats():
    """The paper's complicate-input prompt shows prompts rewritten with XML, SQL, code (and
    HTML, shell, JSON) input data before the prompt to rewrite, not a one-line method."""
    prompt = evolution_prompt("Sort the list.", "complicate_input", seed=1)
    for fence in ("```xml", "```sql", "```python", "```html", "```bash", "```json"):
        assert fence in prompt
    blocks = prompt.split("\n####\n")
    assert len(blocks) == 1 + len(DATA_FORMATS) + 1  # instructions, 6 demonstrations, the task
    for demo in blocks[1:-1]:
        given, rewritten = demo.split("#The Given Prompt#:\n")[1].split("\n#Rewritten Prompt#:\n")
        assert len(rewritten) > 3 * len(given) and "```" in rewritten  # data was added
        assert cheap_elimination(rewritten, "A fine answer.") is None  # no meta words to copy
    task = blocks[-1]
    assert task.endswith("#The Given Prompt#:\nSort the list.\n#Rewritten Prompt#:")
    tasks = [evolution_prompt("Sort the list.", "complicate_input", seed=s) for s in range(60)]
    asked = {task.split("\n####\n")[-1].splitlines()[0] for task in tasks}
    assert asked == {f"Data format: {f}" for f in DATA_FORMATS}  # drawn per evolution
    assert "10 to 20 words" not in prompt  # the depth prompts' limit is not the paper's here
    assert evolution_prompt("Sort the list.", "complicate_input", seed=1) == prompt


def test_seed_fields_join_instruction_and_input():
    task = {"instruction": "Translate.", "instances": [{"input": "Hola", "output": "Hello"}]}
    assert seed_fields(task) == {"instruction": "Translate.\nHola", "output": "Hello"}
    assert seed_fields({"instruction": "Tell a joke."}) == {
        "instruction": "Tell a joke.",
        "output": "",
    }


ARGS = [
    "evol_instruct",
    "--limit",
    "6",
    "--set",
    "steps[1].params.rounds=2",
    "--set",
    "steps[1].params.operations=[breadth, add_constraints]",
    "--set",
    "steps[1].params.max_tokens=80",
    "--set",
    "steps[1].params.answer_max_tokens=96",
]


def test_evolution_rounds_resume_after_kill_without_repeating_calls(tmp_path):
    records, _, _ = resume_after_kill(tmp_path, *ARGS, after_calls=6)
    seeds = [r for r in records if "evol_round" not in r]
    assert len(seeds) == 6
    evolved = [r for r in records if "evol_round" in r]
    assert evolved, "no evolution passed the eliminator: the lineage would go unchecked"
    by_id = {r["_meta"]["id"]: r for r in records}
    instructions = {r["instruction"] for r in records}
    for record in evolved:  # lineage: the parent is the previous version
        assert record["evol_operation"] in ("breadth", "add_constraints")
        assert record["evol_round"] in (1, 2)
        assert record["_meta"]["method"] == "evol_instruct.evolve"
        assert record["instruction"] != record["evol_parent"] and record["output"]
        assert cheap_elimination(record["instruction"], record["output"]) is None
        (parent_id,) = record["_meta"]["parents"]
        parent = by_id.get(parent_id)
        if parent is None:  # dedup dropped it as a copy of a record that stays
            assert record["evol_parent"] in instructions
            continue
        assert parent["instruction"] == record["evol_parent"]
        # a chain: the parent is the seed or an earlier round of the same seed's evolution
        assert parent.get("evol_round", 0) < record["evol_round"]
        assert "evol_round" in parent or parent in seeds
