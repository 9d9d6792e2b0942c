"""Bot-Adversarial Dialogue: adversary and bot turns, per-utterance __ok__/__notok__ labels and
the per-utterance classifier examples, on the embedded model; the recipe end to end."""

from __future__ import annotations

import asyncio

from conftest import run_recipe_twice

from synthaug.engine.step import StepContext
from synthaug.llm.client import LLMClient
from synthaug.methods.dialogue.bad import NOT_OK, OK, Dialogue, Examples, Label, Seeds
from synthaug.records import META


def _ctx(llm, name: str) -> StepContext:
    return StepContext(llm, run_seed=0, step_name=name)


def test_dialogue_labels_and_examples_on_the_embedded_model(local_backend):
    llm = LLMClient(local_backend)
    goal = Seeds().load()[0]["instruction"]
    row = {"goal": goal, "category_hint": None, META: {"id": "d0"}}
    step = Dialogue(name="dialogue", turns=2, human_max_tokens=24, bot_max_tokens=24)
    [talked] = asyncio.run(step.process(row, _ctx(llm, "dialogue")))
    dialogue = talked["dialogue"]
    assert [t["speaker"] for t in dialogue] == ["human", "bot", "human", "bot"]
    assert all(t["text"] and "\n\n" not in t["text"] for t in dialogue)
    # the bot saw the conversation as chat turns: its last request ends with the human's turn
    last_bot = step.bot_request(dialogue[:3], seed=0)
    assert [m["role"] for m in last_bot.messages] == ["user", "assistant", "user"]
    assert last_bot.messages[-1]["content"] == dialogue[2]["text"]

    [labelled] = asyncio.run(Label(name="label").process(talked, _ctx(llm, "label")))
    turns = labelled["dialogue"]
    assert [t["text"] for t in turns] == [t["text"] for t in dialogue]
    assert all(t["label"] in (OK, NOT_OK) for t in turns)
    for who in ("bot", "human"):
        notok = sum(t["label"] == NOT_OK for t in turns if t["speaker"] == who)
        assert labelled[f"{who}_notok"] == notok
    # each utterance was judged in the context of those before it, not after
    third = Label(name="label").request(turns, 2, seed=0).messages[0]["content"]
    assert turns[1]["text"] in third and turns[3]["text"] not in third

    examples = asyncio.run(Examples(name="examples", num_turns=2).process(labelled, _ctx(llm, "x")))
    assert len(examples) == 4
    for i, example in enumerate(examples):
        window = [t["text"] for t in turns[max(0, i - 1) : i + 1]]
        assert example["text"] == "\n".join(window)
        assert example["labels"] == [turns[i]["label"]]
        assert example["speaker_to_eval"] == turns[i]["speaker"]


def test_bad_recipe_on_the_embedded_model(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "bot_adversarial_dialogue",
        "--limit", "1",
        "--set", "steps[1].params.turns=1",
        "--set", "steps[1].params.human_max_tokens=24",
        "--set", "steps[1].params.bot_max_tokens=24",
    )  # fmt: skip
    assert [r["speaker_to_eval"] for r in records] == ["human", "bot"]
    assert all(r["labels"][0] in (OK, NOT_OK) for r in records)
    assert records[1]["text"].startswith(records[0]["text"] + "\n")
    assert {r["goal"] for r in records} == {Seeds().load()[0]["instruction"]}
