"""DISC-MedLLM (Bao et al., 2023, "DISC-MedLLM: Bridging General Large Language Models and
Real-World Medical Consultation", arXiv 2308.14346): the DISC-Med-SFT data.

The paper builds its SFT set by goal-oriented reconstruction of existing medical data with
GPT-3.5 (prompts not released; the repository ``FudanDISC/DISC-MedLLM`` ships the data,
training and evaluation code only):

1. **Re-constructed AI doctor-patient dialogues** (MedDialog 400k, cMedQA2 20k): real online
   consultations are rewritten so that the doctor sounds like a consistent AI doctor:
   colloquial expressions removed and wording unified, inconsistencies in the doctor's
   statements corrected, the key information of each doctor reply kept and explained where
   incomplete, and what an AI doctor should not say (e.g. asking for an appointment at the
   doctor's clinic) rewritten or removed — ``disc.reconstruct``.
2. **Knowledge-graph QA pairs** (CMeKG, 50k): per department, disease nodes are sampled with
   their triples; GPT-3.5 writes a question-answer pair from them with few-shot
   demonstrations, then the pair is made a single-turn patient-doctor conversation —
   ``disc.kg_entities`` (one row per entity with its sampled triples) and ``disc.kg_qa``.
3. **Behavioural preference data** (2k, manually selected from MedDialog and cMedQA2 and
   rewritten by GPT-4): the doctor's replies are rewritten to the preferred behaviour; the
   paper judges models on proactivity (asks for what is missing, guides the consultation),
   accuracy, helpfulness and linguistic quality — ``disc.preference`` rewrites the doctor
   turns along these four criteria.

What differs here: the prompts are written for synthaug from the paper's description; every
rewrite keeps the turn structure (the model returns exactly one string per rewritten turn,
so a turn cannot be lost or merged); the default inputs are 24 consultations and 40 clinical
triples written for synthaug (MedDialog, cMedQA2 and CMeKG are not shipped); ``disc.kg_qa``
is zero-shot and groups triples by subject rather than by department; the GPT-4 rewriting of
the preference set is not followed by the paper's manual check.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext, WholeStep
from ...llm.types import ChatRequest
from ...records import META, record_id
from ...verify.evidence import kg_answer_verdict
from ..common.parsing import json_reply
from ..common.rows import kept_if_verified
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render
from .dialogue import DOCTOR, PATIENT, RewriteTurns, as_messages, json_request, squeezed
from .seeds import STAGE

PAPER = (
    "Bao et al., 2023, DISC-MedLLM: Bridging General Large Language Models and Real-World "
    "Medical Consultation (arXiv 2308.14346)"
)
TRIPLE = ("subject", "relation", "object")


@register("disc.reconstruct", taxonomy="augmentation / reformation (dialogue reconstruction)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Reconstruct(RewriteTurns):
    """DISC-MedLLM: a real consultation rewritten turn by turn into an AI doctor-patient dialogue.

    No colloquialisms, a consistent doctor, the key information kept.

    Input columns: ``dialogue``. Output columns: ``dialogue``, ``messages``,
    ``original_dialogue``."""

    template = "disc_reconstruct.j2"
    rewritten_roles = (PATIENT, DOCTOR)


@register("disc.preference", taxonomy="augmentation / reformation (behavioural preference)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Preference(RewriteTurns):
    """DISC-MedLLM: the doctor turns rewritten to the preferred behaviour.

    Proactive (asks for what is missing), accurate, helpful and well expressed.

    Input columns: ``dialogue``. Output columns: ``dialogue``, ``messages``,
    ``original_dialogue``."""

    template = "disc_preference.j2"
    rewritten_roles = (DOCTOR,)


class EntityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int | None = Field(None, ge=1, description="entities (default: every subject)")
    max_triples: int = Field(3, ge=1, description="triples sampled per entity")


@register("disc.kg_entities", taxonomy="synthesis / knowledge-graph instances", stage=STAGE,
          paper=PAPER)  # fmt: skip
class KGEntities(WholeStep):
    """DISC-MedLLM KG sampling: one row per subject entity with up to ``max_triples`` triples.

    Entities in first-seen order (the first ``count``), triples drawn from the seed.

    Input columns: ``subject``, ``relation``, ``object``. Output columns: ``entity``,
    ``triples``."""

    Params = EntityParams
    params: EntityParams
    reads = TRIPLE
    writes = ("entity", "triples")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return set(self.writes)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        async for row in rows:
            triple = {k: squeezed(row[k]) for k in TRIPLE}
            groups.setdefault(triple["subject"].lower(), []).append(
                {**triple, "triple_id": row[META]["id"]}
            )
        for slot, (entity, triples) in enumerate(list(groups.items())[: self.params.count]):
            rng = random.Random(ctx.seed("entity", entity))
            chosen = sorted(
                rng.sample(range(len(triples)), min(self.params.max_triples, len(triples)))
            )
            picked = [triples[i] for i in chosen]
            meta = {"id": record_id(self.name, slot), "step": self.name, "method": self.method,
                    "parents": [t["triple_id"] for t in picked]}  # fmt: skip
            yield {"entity": triples[0]["subject"], "triples": picked, META: meta}


class KGQAParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(384, ge=32)


@register("disc.kg_qa", taxonomy="synthesis / knowledge-graph instances to dialogue",
          stage=STAGE, paper=PAPER)  # fmt: skip
class KGQA(ModelStep):
    """DISC-MedLLM KG QA: a patient's question and a doctor's answer grounded in KG triples.

    A single-turn conversation; the answer must state at least one
    triple's object (``verification`` of kind ``kg_answer`` for the first it states), else an
    error row ``object_not_in_answer``.

    Input columns: ``entity``, ``triples``. Output columns: ``question``, ``answer``,
    ``dialogue``, ``messages``, ``stated_triples`` (indices), ``verification``."""

    Params = KGQAParams
    params: KGQAParams
    reads = ("entity", "triples")
    writes = ("question", "answer", "dialogue", "messages", "stated_triples", "verification")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p, text = self.params, {"type": "string", "minLength": 5}
        objects = ", ".join(f'"{t["object"]}"' for t in row["triples"])
        prompt = render(__file__, "disc_kg_qa.j2", entity=row["entity"], triples=row["triples"],
                        objects=objects)  # fmt: skip
        properties = {"question": text, "answer": text}
        return [
            json_request(prompt, properties, p.temperature, p.max_tokens, ctx.seed(row[META]["id"]))
        ]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        found = json_reply(replies[0])
        question, answer = squeezed(found.get("question", "")), squeezed(found.get("answer", ""))
        if not question or not answer:
            raise RowError("malformed_output", f"no question and answer: {replies[0].text[:200]!r}")
        triples = [{k: t[k] for k in TRIPLE} for t in row["triples"]]
        verdicts = [kg_answer_verdict(answer, t) for t in triples]
        stated = [i for i, v in enumerate(verdicts) if v["verified"]]
        dialogue = [{"role": PATIENT, "content": question}, {"role": DOCTOR, "content": answer}]
        return {"question": question, "answer": answer, "dialogue": dialogue,
                "messages": as_messages(dialogue), "stated_triples": stated,
                "verification": verdicts[stated[0] if stated else 0]}  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        objects = ", ".join(repr(t["object"]) for t in row["triples"])
        message = f"the answer states none of {objects}: {record['answer'][:200]!r}"
        return kept_if_verified(self, row, record, "object_not_in_answer", message)
