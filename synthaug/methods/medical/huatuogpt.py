"""HuatuoGPT (Zhang et al., 2023, "HuatuoGPT, towards Taming Language Model to Be a Doctor",
arXiv 2305.15075): distilled and real-world doctor data, mixed.

HuatuoGPT's SFT set mixes four kinds of data so that the model gets ChatGPT's fluency and
instruction following together with real doctors' diagnostic behaviour:

- distilled instructions from ChatGPT (61,400): Self-Instruct-style medical instructions
  answered by ChatGPT in a doctor's role;
- real-world instructions from doctors (69,768): real single-turn questions and doctors'
  answers, the terse answers polished by an LLM for fluency, keeping their content;
- distilled conversations from ChatGPT (68,888): two ChatGPTs play the patient and the
  doctor of a consultation that starts from a real case;
- real-world conversations with doctors (25,986): real multi-turn consultations, the doctor
  turns polished in the same way.

``huatuogpt.data`` makes, from each seed consultation, a distilled instruction (the doctor
role answers the patient's first message), a distilled conversation (``rounds`` doctor
replies, the simulated patient answering from the case in between) and the real-world kind
the seed is — a real instruction for a single exchange, a real conversation otherwise —
with the doctor turns polished. A kind that fails is an error row of that kind; the others
are kept. ``huatuogpt.mix`` (no model call) then keeps the kinds in the paper's
proportions: the largest set whose per-kind counts follow ``proportions`` (rounded), the
rows of each kind drawn from the seed, in input order.

Sources: the four kinds, their sizes and descriptions are those of the authors' README; the
LLM polishing of the real-world data (keeping the doctors' content) is written from memory of
the paper. What differs: the distilled instructions answer the seed patients' questions instead of
Self-Instruct-grown ones; the prompts, ``rounds`` and sampling values are this module's
(the authors released the data and training code, not generation prompts); the paper's
RLAIF stage (reward model trained on ChatGPT rankings) is not part of this data step (see
the preference methods). Seeds are 24 consultations written for synthaug.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext, WholeStep
from ...llm.client import LLMClient, LLMError
from ...llm.types import chat
from ...records import META, derive
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .dialogue import (
    DOCTOR,
    PATIENT,
    RewriteParams,
    as_messages,
    case_of,
    dialogue_problem,
    patient_turn,
    rewritten_dialogue,
    squeezed,
    transcript,
    turns_request,
)
from .seeds import STAGE

PAPER = (
    "Zhang et al., 2023, HuatuoGPT, towards Taming Language Model to Be a Doctor (arXiv 2305.15075)"
)
# the data table of the FreedomIntelligence/HuatuoGPT README (the four kinds' sizes)
PROPORTIONS = {"distilled_instruction": 61400, "real_instruction": 69768,
               "distilled_conversation": 68888, "real_conversation": 25986}  # fmt: skip


class DataParams(RewriteParams):
    rounds: int = Field(3, ge=1, description="doctor replies in a distilled conversation")
    patient_backend: str | None = None  # a name in the recipe's backends; None: the default
    doctor_max_tokens: int = Field(384, ge=16)
    patient_max_tokens: int = Field(96, ge=8)


@register("huatuogpt.data", taxonomy="synthesis + reformation (distilled and real doctor data)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Data(MapStep):
    """HuatuoGPT data from a consultation: distilled and polished real doctor dialogues.

    A distilled instruction, a distilled conversation and the polished real-world
    instruction or conversation.

    Input columns: ``dialogue``. Output columns: ``messages``, ``dialogue``,
    ``huatuogpt_source`` (one record per kind)."""

    Params = DataParams
    params: DataParams
    reads = ("dialogue",)
    writes = ("messages", "dialogue", "huatuogpt_source")
    uses_llm = True
    backend_params = ("patient_backend",)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        if problem := dialogue_problem(row["dialogue"]):
            raise RowError("bad_dialogue", f"dialogue: {problem}")
        real = "real_instruction" if len(row["dialogue"]) == 2 else "real_conversation"
        makers = {"distilled_instruction": self._instruction,
                  "distilled_conversation": self._conversation, real: self._polished}  # fmt: skip
        out = []
        for index, (kind, make) in enumerate(makers.items()):
            keys: list[str] = []
            try:
                dialogue = await make(row, ctx, keys)
            except (RowError, LLMError) as error:
                out.append(dropped(self, row, error.kind, str(error),
                                   index, {"huatuogpt_source": kind}))  # fmt: skip
                continue
            fields = {"messages": as_messages(dialogue), "dialogue": dialogue,
                      "huatuogpt_source": kind}  # fmt: skip
            out.append(derive(row, fields, step=self.name, method=self.method, index=index,
                              model=ctx.require_llm().backend.describe(), request=keys))  # fmt: skip
        return out

    async def _complete(self, llm: LLMClient, prompt: str, seed: int, keys: list[str]) -> str:
        p = self.params
        request = chat(("user", prompt), temperature=p.temperature,
                       max_tokens=p.doctor_max_tokens, seed=seed)  # fmt: skip
        keys.append(llm.key(request))
        text = squeezed((await llm.complete(request)).text).removeprefix("Doctor:").strip()
        if not text:
            raise RowError("empty_turn", "the doctor model wrote nothing")
        return text

    async def _instruction(self, row, ctx: StepContext, keys: list[str]) -> list[dict[str, Any]]:
        question = row["dialogue"][0]["content"]
        prompt = render(__file__, "huatuogpt_instruction.j2", question=question)
        answer = await self._complete(
            ctx.require_llm(), prompt, ctx.seed(row[META]["id"], "instruction"), keys
        )
        return [{"role": PATIENT, "content": question}, {"role": DOCTOR, "content": answer}]

    async def _conversation(self, row, ctx: StepContext, keys: list[str]) -> list[dict[str, Any]]:
        p, row_id = self.params, row[META]["id"]
        doctor, patient = ctx.require_llm(), ctx.require_llm(p.patient_backend)
        case = case_of(row["dialogue"])
        dialogue = [{"role": PATIENT, "content": row["dialogue"][0]["content"]}]
        for number in range(p.rounds):
            if number:
                said = await patient_turn(patient, case, dialogue, ctx.seed(row_id, "patient", number),
                                          p.temperature, p.patient_max_tokens, keys)  # fmt: skip
                dialogue.append({"role": PATIENT, "content": said})
            prompt = render(__file__, "huatuogpt_doctor.j2", transcript=transcript(dialogue))
            text = await self._complete(doctor, prompt, ctx.seed(row_id, "doctor", number), keys)
            dialogue.append({"role": DOCTOR, "content": text})
        return dialogue

    async def _polished(self, row, ctx: StepContext, keys: list[str]) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        count = sum(turn["role"] == DOCTOR for turn in row["dialogue"])
        prompt = render(__file__, "huatuogpt_refine.j2", transcript=transcript(row["dialogue"]),
                        count=count)  # fmt: skip
        request = turns_request(prompt, count, p.temperature, p.max_tokens,
                                ctx.seed(row[META]["id"], "refine"))  # fmt: skip
        keys.append(llm.key(request))
        return rewritten_dialogue(row["dialogue"], (DOCTOR,), await llm.complete(request))

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {row["huatuogpt_source"]: 1}


class MixParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    proportions: dict[str, float] = Field(
        default_factory=lambda: dict(PROPORTIONS),
        description="kind -> weight (default: the paper's counts); kinds not named are dropped",
    )


def kept_counts(available: dict[str, int], proportions: dict[str, float]) -> dict[str, int]:
    """Per kind, how many rows to keep: the largest total ``T`` with ``round(T * share)`` rows
    of every kind present (a kind absent from the input does not limit the others)."""
    present = {k: w for k, w in proportions.items() if w > 0 and available.get(k)}
    if not present:
        return {}
    total = sum(present.values())
    share = {k: w / total for k, w in present.items()}
    scale = min(available[k] / share[k] for k in present)
    return {k: min(available[k], math.floor(scale * share[k] + 0.5)) for k in present}


@register("huatuogpt.mix", taxonomy="curation / data mixture", stage=STAGE, paper=PAPER)
class Mix(WholeStep):
    """HuatuoGPT mixture: the data kinds kept in the paper's proportions.

    Per ``huatuogpt_source``, a seeded choice within the kind; input order kept.

    Input columns: ``huatuogpt_source``."""

    Params = MixParams
    params: MixParams
    reads = ("huatuogpt_source",)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        by_kind: dict[str, list[int]] = {}
        for index, row in enumerate(held):
            by_kind.setdefault(row["huatuogpt_source"], []).append(index)
        counts = kept_counts({k: len(v) for k, v in by_kind.items()}, self.params.proportions)
        keep: set[int] = set()
        for kind, count in counts.items():
            keep |= set(random.Random(ctx.seed(kind)).sample(by_kind[kind], count))
        for index in sorted(keep):
            yield held[index]
