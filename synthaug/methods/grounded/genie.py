"""Genie (Yehudai et al., 2024, arXiv 2401.14367): content-grounded question answering data.

The paper's three stages: (a) **content preparation** (web pages cleaned and split into
passages), (b) **generation**: an LLM prompted few-shot with (passage, question, answer)
demonstrations writes, per passage, a question and a long-form answer grounded in it, and
(c) **filtering**: a *format* filter (the output parses into its parts), a *faithfulness*
filter (an NLI model must find the answer entailed by the passage) and a *quality* filter (a
reward model's score above a threshold).

Steps here, after the ``ingest`` source (stage a: any documents, chunked with provenance):
``genie.generate`` (few-shot chat turns in the paper's ``Document: / Question: / Answer:``
form; the raw reply is kept), ``genie.format`` (both parts present and non-empty, the answer
at least ``min_answer_words`` long), ``genie.faithfulness`` (an entailment judge through any
backend: does the passage support the answer? Yes/No) and ``genie.quality`` (a judge's 1-10
rating kept at ``min_score`` or above; writes the training ``messages``). Each failed filter
makes the row an error row whose kind names the filter (``format``, ``unfaithful``,
``low_quality``) and whose message gives the reason. Every record keeps its ``chunk_id``,
``doc_id`` and ``source``.

Differences from the paper: the faithfulness judge is an LLM asked a yes/no entailment
question, not the paper's NLI classifier; the quality judge is an LLM rating 1-10 with a
threshold of 7 by default (the paper keeps examples whose reward-model score passes its
threshold); the two demonstrations are written for synthaug (the paper draws its few-shot
examples from existing LFQA data); content preparation is ``synthaug.ingest`` (token chunks
with overlap) instead of splitting web pages by their table of contents.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat, object_schema
from ...records import META, derive
from ..common.judged import JsonJudge
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Yehudai et al., 2024, Genie: Achieving Human Parity in Content-Grounded Datasets "
    "Generation (arXiv 2401.14367)"
)
TAXONOMY = "synthesis / content-grounded QA (generate, then filter)"
STAGE = "instruction tuning (grounded QA)"
_PARTS = re.compile(
    r"^\s*\**question\**\s*:\**\s*(?P<q>.+?)\s*^\s*\**answer\**\s*:\**\s*(?P<a>.*)\Z",
    re.IGNORECASE | re.DOTALL | re.MULTILINE,
)


@cache
def examples() -> list[dict[str, str]]:
    """The few-shot demonstrations (``templates/genie_examples.yaml``)."""
    path = Path(__file__).parent / "templates" / "genie_examples.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def genie_reply(question: str, answer: str) -> str:
    """A (question, answer) pair in the paper's output format."""
    return f"Question: {question}\nAnswer: {answer}"


def parse_pair(text: str) -> tuple[str, str]:
    """The question and answer of a ``Question: ... Answer: ...`` reply; ``RowError``
    ``format`` naming what is missing."""
    found = _PARTS.search(text.strip())
    if found is None:
        missing = [p for p in ("Question:", "Answer:") if p.lower() not in text.lower()]
        reason = f"no {' and no '.join(missing)}" if missing else "the parts are out of order"
        raise RowError("format", f"{reason} in the reply: {text[:200]!r}")
    question, answer = (" ".join(found.group(g).split()) for g in ("q", "a"))
    if not answer:
        raise RowError("format", f"empty answer: {text[:200]!r}")
    return question, answer


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shots: int = Field(2, ge=0, le=2, description="few-shot demonstrations (at most 2 shipped)")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)


@register("genie.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(ModelStep):
    """Genie's generation: per passage, a question and a grounded long-form answer, few-shot.

    Input columns: ``text``. Output columns: ``generation`` (the reply, parsed by
    ``genie.format``)."""

    Params = GenerateParams
    params: GenerateParams
    reads = ("text",)
    writes = ("generation",)

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        turns: list[tuple[Any, str]] = []
        for shot in examples()[: self.params.shots]:
            turns += [("user", render(__file__, "genie_generate.j2", document=shot["document"])),
                      ("assistant", genie_reply(shot["question"], shot["answer"]))]  # fmt: skip
        turns.append(("user", render(__file__, "genie_generate.j2", document=row["text"])))
        p = self.params
        return [chat(*turns, temperature=p.temperature, max_tokens=p.max_tokens,
                     seed=ctx.seed(row[META]["id"]))]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        return {"generation": replies[0].text.strip()}


class FormatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_answer_words: int = Field(3, ge=1, description="shorter answers fail the filter")


@register("genie.format", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Format(MapStep):
    """Genie's format filter: the reply parses into a question and an answer of some length.

    Input columns: ``generation``. Output columns: ``question``, ``answer``."""

    Params = FormatParams
    params: FormatParams
    reads = ("generation",)
    writes = ("question", "answer")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        question, answer = parse_pair(row["generation"])
        if len(answer.split()) < self.params.min_answer_words:
            raise RowError("format", f"answer under {self.params.min_answer_words} words: "
                           f"{answer!r}")  # fmt: skip
        return [derive(row, {"question": question, "answer": answer},
                       step=self.name, method=self.method)]  # fmt: skip


class JudgeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: str | None = None  # a recipe's named backend; None: the recipe's backend
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(48, ge=8)  # room for whitespace the grammar allows before the JSON


class Judge(JsonJudge):
    """A filter asking a judge (any backend) one JSON question about the row."""

    template: str
    schema: dict[str, Any]

    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        prompt = render(__file__, self.template, document=row["text"], question=row["question"],
                        answer=row["answer"])  # fmt: skip
        p = self.params
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=self.schema, seed=seed)  # fmt: skip


@register("genie.faithfulness", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Faithfulness(Judge):
    """Genie's faithfulness filter: an entailment judge, does the passage support the answer?

    Input columns: ``text``, ``question``, ``answer``. Output columns: ``faithfulness``."""

    Params = JudgeParams
    reads = ("text", "question", "answer")
    writes = ("faithfulness",)
    template = "genie_faithfulness.j2"
    schema = object_schema({"answer": {"enum": ["Yes", "No"]}})

    def keep(self, row: dict[str, Any], reply: dict[str, Any], judge: str) -> dict[str, Any]:
        verdict = reply.get("answer")
        if verdict not in ("Yes", "No"):
            raise RowError("malformed_judgement", f"no Yes/No verdict: {reply!r}"[:300])
        if verdict == "No":
            raise RowError("unfaithful", "the judge finds the answer not supported by the passage")
        return {"faithfulness": {"entailed": True, "judge": judge}}


class QualityParams(JudgeParams):
    min_score: int = Field(7, ge=1, le=10, description="lowest 1-10 rating kept")


@register("genie.quality", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Quality(Judge):
    """Genie's quality filter: a judge's 1-10 rating of the pair, kept at ``min_score`` or above.

    Input columns: ``text``, ``question``, ``answer``. Output columns: ``quality`` and
    ``messages`` (user: the passage and the question; assistant: the answer)."""

    Params = QualityParams
    params: QualityParams
    reads = ("text", "question", "answer")
    writes = ("quality", "messages")
    template = "genie_quality.j2"
    schema = object_schema({"score": {"enum": list(range(1, 11))}})

    def keep(self, row: dict[str, Any], reply: dict[str, Any], judge: str) -> dict[str, Any]:
        score = reply.get("score")
        if not isinstance(score, int) or isinstance(score, bool):
            raise RowError("malformed_judgement", f"no 1-10 score: {reply!r}"[:300])
        if score < self.params.min_score:
            raise RowError("low_quality", f"rated {score}/10, below {self.params.min_score}")
        user = f"Document: {row['text']}\n\nQuestion: {row['question']}"
        messages = [{"role": "user", "content": user},
                    {"role": "assistant", "content": row["answer"]}]  # fmt: skip
        return {"quality": {"score": score, "judge": judge}, "messages": messages}

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {f"score_{row['quality']['score']}": 1}
