"""BianQue (Chen et al., 2023, "BianQue: Balancing the Questioning and Suggestion Ability of
Health LLMs with Multi-turn Health Conversations Polished by ChatGPT", arXiv 2310.15896).

Users seldom describe their problem fully in one message, and a doctor keeps asking, turn by
turn, before advising; BianQue calls this the **chain of questioning** (CoQ). Its corpus
(BianQueCorpus) is multi-turn health conversations — real ones, their doctor turns polished
by ChatGPT so that the doctor asks one clear question at a time until enough is known and
then gives a suggestion — formatted as one instruction per doctor turn: the input is the
history ``病人：…\\n医生：…\\n病人：…\\n医生：`` and the target the doctor's next turn, so that
many targets are questions rather than advice (README of ``scutcyr/BianQue``).

``bianque.dialogue`` simulates such a conversation from a patient's first message: a doctor
model decides each turn between asking one question (``ask``) and suggesting (``suggest``),
under a JSON schema whose ``action`` enum forces questions for the first ``min_questions``
turns and a suggestion after ``max_questions``; a simulated patient (``patient_backend``,
default the recipe's model) answers from the case (the patient's statements in the seed
consultation). The conversation ends with the suggestion. ``bianque.samples`` (no model
call) writes the BianQue instruction format: one record per doctor turn.

What differs: the paper polishes real conversations (MedDialog-CN, IMCS-V2, MedDG, ... and the
lab's own data) rather than simulating them; here the doctor's questioning is generated and
the seed consultations (written for synthaug) provide the openers and the patients' facts;
English ``Patient:`` / ``Doctor:`` tags replace ``病人：`` / ``医生：``; the prompts,
``min_questions``, ``max_questions`` and the sampling values are this module's (the
authors released no polishing prompt).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import MapStep, RowError, StepContext
from ...records import META, derive
from ..common.parsing import json_reply
from ..registry import register
from ..templates import render
from .dialogue import (
    DOCTOR,
    PATIENT,
    as_messages,
    case_of,
    json_request,
    patient_turn,
    squeezed,
    transcript,
)
from .seeds import STAGE

PAPER = (
    "Chen et al., 2023, BianQue: Balancing the Questioning and Suggestion Ability of Health "
    "LLMs with Multi-turn Health Conversations Polished by ChatGPT (arXiv 2310.15896)"
)
TAXONOMY = "synthesis / multi-turn dialogue (chain of questioning)"


class DialogueParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_questions: int = Field(1, ge=0, description="questions the doctor must ask first")
    max_questions: int = Field(4, ge=0, description="questions after which it must suggest")
    patient_backend: str | None = None  # a name in the recipe's backends; None: the default
    temperature: float = Field(0.7, ge=0, le=2)
    doctor_max_tokens: int = Field(256, ge=16)
    patient_max_tokens: int = Field(96, ge=8)

    @model_validator(mode="after")
    def _ordered(self) -> DialogueParams:
        if self.min_questions > self.max_questions:
            raise ValueError("min_questions must not exceed max_questions")
        return self


def allowed_actions(asked: int, low: int, high: int) -> list[str]:
    """The doctor's choices after ``asked`` questions."""
    if asked < low:
        return ["ask"]
    return ["suggest"] if asked >= high else ["ask", "suggest"]


@register("bianque.dialogue", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Dialogue(MapStep):
    """BianQue chain of questioning: the doctor asks until it knows enough, then suggests.

    One question a turn; a simulated patient answers from the case.

    Input columns: ``question`` (the patient's first message), ``dialogue`` (the seed
    consultation: the patient's facts). Output columns: ``dialogue`` (doctor turns carry
    ``action``), ``messages``, ``questions``, ``case``."""

    Params = DialogueParams
    params: DialogueParams
    reads = ("question", "dialogue")
    writes = ("dialogue", "messages", "questions", "case")
    uses_llm = True
    backend_params = ("patient_backend",)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        doctor, patient = ctx.require_llm(), ctx.require_llm(p.patient_backend)
        row_id, keys = row[META]["id"], []
        case = case_of(row["dialogue"])
        dialogue: list[dict[str, Any]] = [{"role": PATIENT, "content": squeezed(row["question"])}]
        for asked in range(p.max_questions + 1):
            actions = allowed_actions(asked, p.min_questions, p.max_questions)
            prompt = render(__file__, "bianque_doctor.j2", transcript=transcript(dialogue),
                            actions=actions)  # fmt: skip
            properties = {"action": {"enum": actions}, "text": {"type": "string", "minLength": 2}}
            request = json_request(prompt, properties, p.temperature, p.doctor_max_tokens,
                                   ctx.seed(row_id, "doctor", asked))  # fmt: skip
            keys.append(doctor.key(request))
            reply = json_reply(await doctor.complete(request))
            action, text = reply.get("action"), squeezed(reply.get("text", ""))
            if action not in actions or not text:
                raise RowError("malformed_output", f"doctor turn {asked + 1}: {reply!r:.200}")
            dialogue.append({"role": DOCTOR, "content": text, "action": action})
            if action == "suggest":
                break
            said = await patient_turn(patient, case, dialogue, ctx.seed(row_id, "patient", asked),
                                      p.temperature, p.patient_max_tokens, keys)  # fmt: skip
            dialogue.append({"role": PATIENT, "content": said})
        fields = {"dialogue": dialogue, "messages": as_messages(dialogue), "case": case,
                  "questions": sum(t.get("action") == "ask" for t in dialogue)}  # fmt: skip
        return [derive(row, fields, step=self.name, method=self.method, request=keys,
                       model=doctor.backend.describe(), patient_model=patient.backend.describe(),
                       seed=ctx.seed(row_id))]  # fmt: skip

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {"questions": row["questions"]}


def history_input(dialogue: list[dict[str, Any]], upto: int) -> str:
    """BianQue's input for the doctor turn at ``upto``: the history, then ``Doctor:``."""
    return f"{transcript(dialogue[:upto])}\nDoctor:"


@register("bianque.samples", taxonomy="augmentation / reformation (instruction format)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Samples(MapStep):
    """BianQue instruction format: one record per doctor turn (the history, then the turn).

    ``instruction`` is the history up to ``Doctor:`` (BianQue's input), ``output`` the turn
    (its target), ``messages`` the two as a user and an assistant message, ``kind`` ``question``
    or ``suggestion``.

    Input columns: ``dialogue``. Output columns: ``instruction``, ``output``, ``messages``, ``kind``,
    ``turn``."""

    reads = ("dialogue",)
    writes = ("instruction", "output", "messages", "kind", "turn")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        dialogue = row["dialogue"]
        out = []
        for place, turn in enumerate(dialogue):
            if turn["role"] != DOCTOR:
                continue
            kind = "question" if turn.get("action", "suggest") == "ask" else "suggestion"
            history = history_input(dialogue, place)
            messages = [{"role": "user", "content": history},
                        {"role": "assistant", "content": turn["content"]}]  # fmt: skip
            fields = {"instruction": history, "output": turn["content"], "messages": messages,
                      "kind": kind, "turn": place}  # fmt: skip
            out.append(derive(row, fields, step=self.name, method=self.method, index=place,
                              keep_parent_fields=False))  # fmt: skip
        return out

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {row["kind"]: 1}
