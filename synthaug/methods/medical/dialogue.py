"""Doctor-patient dialogues, shared by the medical steps: the turn format, the checks of a
dialogue, turn-aligned rewriting by a model, and the simulated patient.

A dialogue is a list of turns ``{"role": "patient" | "doctor", "content": str}`` (a doctor
turn may carry more keys, e.g. BianQue's ``action``) that starts with the patient and
alternates; as chat ``messages`` the patient is the user and the doctor the assistant.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, Completion, chat, object_schema
from ...records import META
from ..common.parsing import json_reply
from ..common.tasks import ModelStep
from ..templates import render

PATIENT, DOCTOR = "patient", "doctor"
CHAT_ROLES = {PATIENT: "user", DOCTOR: "assistant"}
Turn = dict[str, Any]


def squeezed(text: Any) -> str:
    return " ".join(str(text).split())


def dialogue_problem(dialogue: Any) -> str | None:
    """What is wrong with ``dialogue`` as a patient-first, alternating list of turns (None
    when nothing is)."""
    if not isinstance(dialogue, list) or not dialogue:
        return "not a non-empty list of turns"
    for number, turn in enumerate(dialogue):
        expected = (PATIENT, DOCTOR)[number % 2]
        if not isinstance(turn, dict) or turn.get("role") != expected:
            return f"turn {number + 1} is not a {expected} turn (the patient speaks first, then they alternate)"
        if not squeezed(turn.get("content", "")):
            return f"turn {number + 1} is empty"
    return None


def transcript(dialogue: list[Turn]) -> str:
    """``Patient: ...`` / ``Doctor: ...`` lines."""
    return "\n".join(f"{turn['role'].capitalize()}: {turn['content']}" for turn in dialogue)


def as_messages(dialogue: list[Turn]) -> list[dict[str, str]]:
    return [{"role": CHAT_ROLES[turn["role"]], "content": turn["content"]} for turn in dialogue]


def case_of(dialogue: list[Turn]) -> str:
    """What the patient said in a dialogue, one statement a line: a simulated patient's case."""
    return "\n".join(f"- {turn['content']}" for turn in dialogue if turn["role"] == PATIENT)


def json_request(
    prompt: str, properties: dict[str, Any], temperature: float, max_tokens: int, seed: int
) -> ChatRequest:
    """One user prompt whose reply is a JSON object with exactly ``properties``."""
    return chat(("user", prompt), temperature=temperature, max_tokens=max_tokens, seed=seed,
                json_schema=object_schema(properties))  # fmt: skip


def turns_request(
    prompt: str, count: int, temperature: float, max_tokens: int, seed: int
) -> ChatRequest:
    """A request for ``{"turns": [count non-empty strings]}``."""
    text = {"type": "string", "minLength": 1}
    turns = {"type": "array", "items": text, "minItems": count, "maxItems": count}
    return json_request(prompt, {"turns": turns}, temperature, max_tokens, seed)


def rewritten_dialogue(
    dialogue: list[Turn], roles: tuple[str, ...], reply: Completion
) -> list[Turn]:
    """``dialogue`` with its turns of ``roles`` replaced, in order, by the reply's ``turns``
    (``RowError`` ``malformed_output`` unless there is one non-empty string per such turn)."""
    out = [dict(turn) for turn in dialogue]
    places = [i for i, turn in enumerate(out) if turn["role"] in roles]
    turns = [squeezed(t) for t in json_reply(reply).get("turns") or []]
    if len(turns) != len(places) or not all(turns):
        raise RowError(
            "malformed_output", f"expected {len(places)} non-empty turns, got {turns!r:.200}"
        )
    for place, text in zip(places, turns, strict=True):
        out[place]["content"] = text
    return out


class RewriteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(1024, ge=32)


class RewriteTurns(ModelStep):
    """Rewrites the turns of ``rewritten_roles`` in a row's ``dialogue``, one model call, the
    reply a JSON list with exactly one string per rewritten turn (so every turn keeps its
    place and speaker); the other turns stay as they are. ``original_dialogue`` keeps the
    first dialogue the row had."""

    Params = RewriteParams
    params: RewriteParams
    reads = ("dialogue",)
    writes = ("dialogue", "messages", "original_dialogue")
    template: ClassVar[str]
    rewritten_roles: ClassVar[tuple[str, ...]]

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        if problem := dialogue_problem(row["dialogue"]):
            raise RowError("bad_dialogue", f"dialogue: {problem}")
        count = sum(turn["role"] in self.rewritten_roles for turn in row["dialogue"])
        prompt = render(
            __file__, self.template, transcript=transcript(row["dialogue"]), count=count
        )
        p = self.params
        return [
            turns_request(prompt, count, p.temperature, p.max_tokens, ctx.seed(row[META]["id"]))
        ]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        dialogue = rewritten_dialogue(row["dialogue"], self.rewritten_roles, replies[0])
        original = row.get("original_dialogue") or row["dialogue"]
        return {
            "dialogue": dialogue,
            "messages": as_messages(dialogue),
            "original_dialogue": original,
        }


async def patient_turn(
    llm: LLMClient,
    case: str,
    dialogue: list[Turn],
    seed: int,
    temperature: float,
    max_tokens: int,
    keys: list[str],
) -> str:
    """The simulated patient's next message (its request key appended to ``keys``); an empty
    one fails the row (``empty_turn``)."""
    prompt = render(__file__, "patient.j2", case=case, transcript=transcript(dialogue))
    request = chat(("user", prompt), temperature=temperature, max_tokens=max_tokens, seed=seed,
                   stop=("\nDoctor:",))  # fmt: skip
    keys.append(llm.key(request))
    text = squeezed((await llm.complete(request)).text)
    text = squeezed(text.removeprefix("Patient:"))
    if not text:
        raise RowError("empty_turn", f"patient turn {len(dialogue) + 1}: the model wrote nothing")
    return text
