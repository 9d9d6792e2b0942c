"""SelTDA pseudo-labelled visual questions (Khan et al., CVPR 2023, "Q: How to Specialize Large
Vision-Language Models to Data-Scarce VQA Tasks? A: Self-Train on Unlabeled Images!").

SelTDA (Self-Taught Data Augmentation) fine-tunes a VLM (BLIP) on the small target VQA set as
a question-answer *generator* (image -> question and answer), runs it on unlabelled images to
pseudo-label them with question-answer pairs (open-ended and yes/no, as the target set has
them), and fine-tunes the VQA model on the real plus the pseudo-labelled pairs; the
pseudo-labels are not filtered.

Steps here:

- ``seltda.caption``: a vision endpoint (``params.vision``) captions each unlabelled image;
- ``seltda.questions``: the text model turns each caption into pseudo-labelled questions:
  ``open`` ones (the answer a short phrase of the caption: an answer not found in it is an
  ``ungrounded`` error row) and ``boolean`` ones, the yes/no answer drawn per question with
  the run seed and the question written to have that answer (so yes and no are balanced).
  Each becomes a training pair (``messages``) on the image.

Differences from the paper: the question generator is not a VLM fine-tuned on target data
looking at the image: the image reaches the text model only through the endpoint's caption,
so the question generation runs on any (even the embedded) text model; the prompts are
synthaug's (the paper has none: its generator is trained); the open answers are checked
against the caption (the paper keeps every pseudo-label). No VQA model is trained here.
"""

from __future__ import annotations

import random
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META, failed
from ..registry import register
from ..templates import render
from .vision import ShortCaption

PAPER = (
    "Khan et al., CVPR 2023, Q: How to Specialize Large Vision-Language Models to Data-Scarce "
    "VQA Tasks? A: Self-Train on Unlabeled Images! (SelTDA)"
)
TAXONOMY = "synthesis / multimodal (pseudo-labelled VQA on unlabelled images)"
STAGE = "instruction tuning (multimodal)"


@register("seltda.caption", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Caption(ShortCaption):
    """A one-sentence caption of each unlabelled image from a vision endpoint.

    Input columns: ``image``. Output columns: ``vlm_caption``."""


class QuestionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caption_column: str = Field("vlm_caption", description="the caption the questions come from")
    open_questions: int = Field(1, ge=0, le=10)
    boolean_questions: int = Field(1, ge=0, le=10)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(128, ge=16)


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def grounded(answer: str, caption: str) -> bool:
    """Whether ``answer`` occurs in ``caption`` (case, punctuation and spacing ignored)."""
    return bool(_words(answer)) and f" {_words(answer)} " in f" {_words(caption)} "


@register("seltda.questions", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Questions(MapStep):
    """Open and yes/no questions with pseudo-labels from each image's caption.

    Input columns: ``image`` and the caption. Output columns: ``question_kind``, ``question``,
    ``answer``, ``messages``."""

    uses_llm = True
    Params = QuestionsParams
    params: QuestionsParams
    writes = ("question_kind", "question", "answer", "messages")

    def input_columns(self) -> set[str]:
        return {"image", self.params.caption_column}

    def request(self, caption: str, kind: str, answer: str, seed: int) -> ChatRequest:
        fields = {"question": {"type": "string"}}
        if kind == "open":
            fields["answer"] = {"type": "string"}
        prompt = render(__file__, f"seltda_{kind}.j2", caption=caption, answer=answer)
        return chat(("user", prompt), json_schema=object_schema(fields), seed=seed,
                    temperature=self.params.temperature, max_tokens=self.params.max_tokens)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm, out = self.params, ctx.require_llm(), []
        caption = row[p.caption_column]
        kinds = ["open"] * p.open_questions + ["boolean"] * p.boolean_questions
        for index, kind in enumerate(kinds):
            seed = ctx.seed(row[META]["id"], index)
            target = random.Random(seed).choice(("yes", "no")) if kind == "boolean" else ""
            request = self.request(caption, kind, target, seed)
            reply = json_object((await llm.complete(request)).text)
            question = str(reply.get("question", "")).strip()
            answer = target or str(reply.get("answer", "")).strip()
            try:
                if not question or not answer:
                    raise RowError("format", f"no {kind} question and answer in the reply")
                if kind == "open" and not grounded(answer, caption):
                    raise RowError("ungrounded", f"answer {answer!r} is not in the caption")
            except RowError as error:
                out.append(failed(row, {"question_kind": kind, "reply": reply}, step=self.name,
                                  method=self.method, kind=error.kind, message=str(error),
                                  index=index))  # fmt: skip
                continue
            messages = [{"role": "user", "content": question},
                        {"role": "assistant", "content": answer}]  # fmt: skip
            fields = {"question_kind": kind, "question": question, "answer": answer,
                      "messages": messages}  # fmt: skip
            out.append(self.derived(row, fields, ctx, [request], seed=seed, index=index))
        return out

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {row["question_kind"]: 1}
