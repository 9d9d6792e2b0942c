"""HuaTuo (Wang et al., 2023, "HuaTuo: Tuning LLaMA Model with Chinese Medical Knowledge",
arXiv 2304.06975): instruction data from knowledge-graph instances.

HuaTuo fine-tunes LLaMA on question-answer instances that GPT-3.5 wrote from the knowledge of
a medical knowledge graph (CMeKG): each piece of knowledge (an entity with a relation and its
value, e.g. a disease and its symptoms) is turned into a question a user might ask and an
answer grounded in that knowledge.

``huatuo.instruct`` does this per triple row (from ``kg.triples``, a triples file, or from
``kg.extract`` over documents): the model writes a JSON ``{question, answer}`` grounded in
the triple; the answer must state the triple's object, checked and recorded as
``verification`` of kind ``kg_answer`` (re-checked by ``synthaug verify``); an answer that
does not is an error row ``object_not_in_answer``.

Differences from the paper: any triples (the default recipe reads synthaug's sample of
general facts, not CMeKG, which ships under no open licence); one triple per instance, where
the paper's knowledge instances may group several attributes of an entity; the prompt is
written for synthaug (the paper's is not published) and its answers are checked to name the
object.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META
from ...verify.evidence import kg_answer_verdict
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Wang et al., 2023, HuaTuo: Tuning LLaMA Model with Chinese Medical Knowledge "
    "(arXiv 2304.06975)"
)
TAXONOMY = "synthesis / knowledge-graph instances to instructions"
STAGE = "instruction tuning (domain knowledge)"
TRIPLE = ("subject", "relation", "object")


class InstructParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=32)


@register("huatuo.instruct", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Instruct(ModelStep):
    """HuaTuo's instances: a question and a grounded answer per knowledge triple.

    Input columns: ``subject``, ``relation``, ``object``. Output columns: ``instruction``,
    ``output``, ``messages``, ``knowledge`` (the triple) and ``verification`` (``kg_answer``)."""

    Params = InstructParams
    params: InstructParams
    reads = TRIPLE
    writes = ("instruction", "output", "messages", "knowledge", "verification")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        text = {"type": "string", "minLength": 5}
        prompt = render(__file__, "huatuo_instruct.j2", **{k: str(row[k]) for k in TRIPLE})
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     seed=ctx.seed(row[META]["id"]),
                     json_schema=object_schema({"question": text, "answer": text}))]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        found = json_object(replies[0].text)
        question, answer = (" ".join(str(found.get(k, "")).split()) for k in ("question", "answer"))
        if not question or not answer:
            raise RowError("format", f"no question and answer: {replies[0].text[:200]!r}")
        triple = {k: str(row[k]) for k in TRIPLE}
        messages = [{"role": "user", "content": question},
                    {"role": "assistant", "content": answer}]  # fmt: skip
        return {"instruction": question, "output": answer, "messages": messages,
                "knowledge": triple, "verification": kg_answer_verdict(answer, triple)}  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        if record["verification"]["verified"]:
            return [record]
        message = f"the answer does not state {row['object']!r}: {record['output'][:200]!r}"
        fields = {k: record[k] for k in self.writes}
        return [dropped(self, row, "object_not_in_answer", message, 0, fields)]
