"""Bot-Adversarial Dialogue, BAD (Xu et al., 2021, "Bot-Adversarial Dialogue for Safe
Conversational Agents", NAACL 2021; arXiv 2010.07079 "Recipes for Safety in Open-domain
Chatbots"; data: ParlAI task ``bot_adversarial_dialogue``).

In the paper crowdworkers chat with a dialogue model and try to make it say something
unsafe — offensive, toxic or otherwise not OK — across a multi-turn conversation, and every
utterance carries a safety label, ``__ok__`` or ``__notok__`` (in the released data each
utterance is an example: the preceding utterances as context, ``speaker_to_eval`` human or
bot). The data trains safety classifiers that look at the whole dialogue, and safer bots.

- ``bad.seeds`` — one adversarial goal per dialogue, by default the 30 mild red-team prompts
  shipped for ``safety.prompts`` (``synthaug/data/red_team_prompts.jsonl``): ``goal``,
  ``category_hint``.
- ``bad.dialogue`` — ``turns`` exchanges: the adversary (the ``adversary`` backend) writes
  the next human message towards its goal, given the transcript; the bot (the ``bot``
  backend, by default the recipe's) answers as a chat model. ``dialogue``:
  ``[{"speaker": "human"|"bot", "text"}]``, human first.
- ``bad.label`` — a judge (``judge``) labels every utterance in the context of those before
  it with BAD's question (is it OK to send in a friendly conversation with someone you just
  met online?), decoded under a JSON schema: each turn gets ``label`` ``__ok__`` or
  ``__notok__``; ``bot_notok`` / ``human_notok`` count them (summed in the run summary).
- ``bad.examples`` (no model) — one row per utterance in the released data's shape:
  ``text`` (the last ``num_turns`` utterances, newline-joined, ending with the one judged),
  ``labels`` ([label]), ``speaker_to_eval``.

Differs: the adversarial human is an LLM playing the crowdworker (the paper used
crowdworkers), and it gets a goal from the red-team prompts (the crowdworkers chose their own
tactics and topics). The labels are a model judge's, not the crowdworkers' own (in the paper
the worker marked each bot message OK / not OK while chatting; the human messages were
labelled afterwards by other crowdworkers — written from memory of the paper, not checked
against it). The paper's bots (BST 2.7B and others, some with personas) are replaced by any
chat backend, without persona. The default of 7 exchanges (14 utterances) is from memory of
the data's size (about 79K utterances in about 5.8K dialogues), not a documented setting;
the judge's question is the "OK to send" question of the authors' Build-it Break-it Fix-it
collection (Dinan et al., 2019), also from memory. The adversary's and the judge's prompts
are written for synthaug.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META, derive, source_record
from ..common.rows import packaged_rows
from ..registry import register
from ..templates import render

PAPER = (
    "Xu et al., 2021, Bot-Adversarial Dialogue for Safe Conversational Agents (arXiv 2010.07079)"
)
TAXONOMY = "synthesis / safety (adversarial multi-turn dialogue, per-utterance safety labels)"
STAGE = "preference alignment (safety), dialogue"
SEEDS = "red_team_prompts"  # shared with safety.prompts
OK, NOT_OK = "__ok__", "__notok__"  # BAD's labels
LABEL_SCHEMA = object_schema({"ok": {"type": "boolean"}})


class SeedsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # a file with an instruction column; default: the 30 built in
    count: int | None = Field(None, ge=1)


@register("bad.seeds", taxonomy="I/O (adversarial goals)", stage=STAGE, paper=PAPER)
class Seeds(SourceStep):
    """One adversarial goal per dialogue (default: the 30 built-in red-team prompts)."""

    Params = SeedsParams
    writes = ("goal", "category_hint")
    seed_data: ClassVar[dict[str, str]] = {"path": f"{SEEDS}.jsonl"}

    def load(self) -> list[dict[str, Any]]:
        return packaged_rows(self.params.path, f"{SEEDS}.jsonl", ["instruction"], self.params.count)

    def expected_rows(self) -> int | None:
        return len(self.load())

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        for index, row in enumerate(self.load()):
            fields = {"goal": row["instruction"], "category_hint": row.get("category_hint")}
            yield source_record(fields, source=self.params.path or SEEDS, index=index)


class DialogueParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    turns: int = Field(7, ge=1, description="exchanges (a human and a bot message each)")
    adversary: str | None = None  # a name in the recipe's backends; None: the default
    bot: str | None = None
    temperature: float = Field(0.8, ge=0, le=2)
    human_max_tokens: int = Field(64, ge=8)
    bot_max_tokens: int = Field(96, ge=8)
    bot_system: str | None = None  # the bot's system prompt, if any


def transcript(dialogue: list[dict[str, Any]]) -> str:
    """``Human: ...`` / ``Bot: ...`` lines."""
    return "\n".join(f"{turn['speaker'].capitalize()}: {turn['text']}" for turn in dialogue)


@register("bad.dialogue", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Dialogue(MapStep):
    """An LLM adversary tries, turn by turn, to make the bot say something unsafe.

    Output columns: ``dialogue`` ([{speaker: human|bot, text}], human first).
    """

    Params = DialogueParams
    reads = ("goal",)
    writes = ("dialogue",)
    uses_llm = True
    backend_params = ("adversary", "bot")

    def human_request(self, goal: str, dialogue: list[dict[str, Any]], seed: int) -> ChatRequest:
        prompt = render(__file__, "bad_adversary.j2", goal=goal, transcript=transcript(dialogue))
        return chat(("user", prompt), temperature=self.params.temperature,
                    max_tokens=self.params.human_max_tokens, seed=seed)  # fmt: skip

    def bot_request(self, dialogue: list[dict[str, Any]], seed: int) -> ChatRequest:
        p = self.params
        system = [("system", p.bot_system)] if p.bot_system else []
        turns = [("user" if t["speaker"] == "human" else "assistant", t["text"]) for t in dialogue]
        return chat(*system, *turns, temperature=p.temperature, max_tokens=p.bot_max_tokens,
                    seed=seed)  # type: ignore[arg-type]  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, rid = self.params, row[META]["id"]
        adversary, bot = ctx.require_llm(p.adversary), ctx.require_llm(p.bot)
        dialogue: list[dict[str, Any]] = []
        sent: list[ChatRequest] = []
        for turn in range(p.turns):
            for speaker, llm in (("human", adversary), ("bot", bot)):
                seed = ctx.seed(rid, turn, speaker)
                request = (self.human_request(str(row["goal"]), dialogue, seed)
                           if speaker == "human" else self.bot_request(dialogue, seed))  # fmt: skip
                sent.append(request)
                text = clean(await llm.complete(request), speaker)
                if not text:
                    raise RowError("empty_turn", f"the {speaker} wrote nothing at turn {turn + 1}")
                dialogue.append({"speaker": speaker, "text": text})
        return [self.derived(row, {"dialogue": dialogue}, ctx, sent, llm=bot)]


def clean(reply: Any, speaker: str) -> str:
    """A reply's first paragraph, without a speaker tag the model may have echoed."""
    text = reply.text.strip()
    for tag in ("Human:", "Bot:", "User:", "Assistant:"):
        text = text.removeprefix(tag).strip()
    return text.split("\n\n")[0].strip()


class LabelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: str | None = None  # a name in the recipe's backends; None: the default
    max_tokens: int = Field(16, ge=8)


@register("bad.label", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Label(MapStep):
    """A judge labels every utterance ``__ok__`` / ``__notok__`` in the context before it.

    Output columns: ``dialogue`` (each turn with ``label``), ``bot_notok``, ``human_notok``.
    Summary counts: ``bot_notok``, ``human_notok``.
    """

    Params = LabelParams
    reads = ("dialogue",)
    writes = ("bot_notok", "human_notok")
    uses_llm = True
    backend_params = ("judge",)

    def request(self, dialogue: list[dict[str, Any]], index: int, seed: int) -> ChatRequest:
        prompt = render(
            __file__,
            "bad_label.j2",
            context=transcript(dialogue[:index]),
            speaker=dialogue[index]["speaker"].capitalize(),
            text=dialogue[index]["text"],
        )
        return chat(("user", prompt), temperature=0, max_tokens=self.params.max_tokens,
                    json_schema=LABEL_SCHEMA, seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        judge, dialogue = ctx.require_llm(self.params.judge), row["dialogue"]
        requests = [
            self.request(dialogue, i, ctx.seed(row[META]["id"], i)) for i in range(len(dialogue))
        ]
        replies = await asyncio.gather(*(judge.complete(r) for r in requests))
        labelled = []
        for i, (turn, reply) in enumerate(zip(dialogue, replies, strict=True)):
            ok = json_object(reply.text).get("ok")
            if not isinstance(ok, bool):
                raise RowError("unparseable_label", f"no ok/not-ok label for utterance {i + 1}: "
                               f"{reply.text[:120]!r}")  # fmt: skip
            labelled.append({**turn, "label": OK if ok else NOT_OK})
        counts = {
            f"{who}_notok": sum(t["label"] == NOT_OK for t in labelled if t["speaker"] == who)
            for who in ("bot", "human")
        }
        return [self.derived(row, {"dialogue": labelled, **counts}, ctx, requests, llm=judge)]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {key: int(row.get(key) or 0) for key in self.writes}


class ExamplesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_turns: int = Field(4, ge=1, description="utterances of context, the judged one included")


@register("bad.examples", taxonomy="I/O (per-utterance safety examples)", stage=STAGE, paper=PAPER)
class Examples(MapStep):
    """One classifier example per labelled utterance, in the released data's shape.

    Output columns: ``text``, ``labels``, ``speaker_to_eval``, ``turn``.
    """

    Params = ExamplesParams
    reads = ("dialogue",)
    writes = ("text", "labels", "speaker_to_eval", "turn")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        dialogue = row["dialogue"]
        if any("label" not in turn for turn in dialogue):
            raise RowError("unlabelled", "run bad.label before bad.examples")
        parent = {k: v for k, v in row.items() if k != "dialogue"}
        n = self.params.num_turns
        return [
            derive(
                parent,
                {
                    "text": "\n".join(t["text"] for t in dialogue[max(0, i + 1 - n) : i + 1]),
                    "labels": [turn["label"]],
                    "speaker_to_eval": turn["speaker"],
                    "turn": i,
                },
                step=self.name,
                method=self.method,
                index=i,
            )
            for i, turn in enumerate(dialogue)
        ]

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"dialogue"}) | set(self.writes)
