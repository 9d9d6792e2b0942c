"""HuatuoGPT-II one-stage adaptation (Chen et al., 2023, "HuatuoGPT-II, One-stage Training for
Medical Adaption of LLMs", arXiv 2311.09774): pre-training text unified into the
instruction format.

Domain adaptation usually runs continued pre-training on medical text, then fine-tuning on
instructions; the two stages see data of different forms and languages. HuatuoGPT-II turns
the pre-training corpus itself into instructions with an LLM ("data unification"): for each
cleaned passage the model writes a question the passage answers, then an answer based on
the passage, so that the answer follows the passage's knowledge while the form is that of
an instruction; every output is in one language (Chinese in the paper: English passages are
unified into it too) and one style. The unified pre-training data and the fine-tuning
instructions then train in a single stage, with priority sampling moving from the
domain-knowledge data to the instructions.

``huatuo2.unify`` does the unification per passage in one call (the question and the answer
as one JSON object, in ``language``). An answer's ``support``, the share of its distinct
content words (four letters or more) that occur in the passage, is recorded; below
``min_support`` the row is an error row ``unsupported_answer`` (a cheap check that the
answer follows the passage, not in the paper).

What differs: one call instead of the paper's two (question, then answer); the prompt is
written for synthaug (the paper's is not published); the language defaults to English; the
support check is this module's; the priority sampling of the training mix is not a data
step and is left to the trainer. The default passages are 16 written for synthaug.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest
from ...records import META
from ..common.parsing import json_reply
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render
from .dialogue import json_request
from .seeds import STAGE

PAPER = (
    "Chen et al., 2023, HuatuoGPT-II, One-stage Training for Medical Adaption of LLMs "
    "(arXiv 2311.09774)"
)
_WORD = re.compile(r"[^\W\d_]{4,}")


def content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def support(answer: str, passage: str) -> float:
    """The share of the answer's distinct content words that occur in the passage."""
    words = content_words(answer)
    return round(len(words & content_words(passage)) / len(words), 4) if words else 0.0


class UnifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str = Field("English", description="the one language of every output")
    min_support: float = Field(0.3, ge=0, le=1, description="error row below this support")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=32)


@register("huatuo2.unify", taxonomy="augmentation / reformation (pre-training text to instructions)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Unify(ModelStep):
    """HuatuoGPT-II unification: a passage becomes a question and an answer that follows it.

    In one language; the answer's lexical ``support`` in the passage is checked.

    Input columns: ``text`` (the passage; ``title`` if present). Output columns: ``instruction``,
    ``output``, ``messages``, ``support``."""

    Params = UnifyParams
    params: UnifyParams
    reads = ("text",)
    writes = ("instruction", "output", "messages", "support")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p, text = self.params, {"type": "string", "minLength": 5}
        prompt = render(__file__, "huatuo2_unify.j2", passage=row["text"],
                        title=row.get("title"), language=p.language)  # fmt: skip
        properties = {"question": text, "answer": text}
        return [
            json_request(prompt, properties, p.temperature, p.max_tokens, ctx.seed(row[META]["id"]))
        ]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        found = json_reply(replies[0])
        question, answer = (" ".join(str(found.get(k, "")).split()) for k in ("question", "answer"))
        if not question or not answer:
            raise RowError("malformed_output", f"no question and answer: {replies[0].text[:200]!r}")
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return {"instruction": question, "output": answer, "messages": messages,
                "support": support(answer, row["text"])}  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        if record["support"] >= self.params.min_support:
            return [record]
        message = (f"support {record['support']} < {self.params.min_support}: "
                   f"{record['output'][:200]!r}")  # fmt: skip
        return [dropped(self, row, "unsupported_answer", message, 0,
                        {k: record[k] for k in self.writes})]  # fmt: skip
