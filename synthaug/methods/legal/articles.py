"""What the legal steps share: the shipped questions, the articles retrieved for a row (the
``retrieve`` step's ``[{chunk_id, score}]`` resolved to their text), how they are shown to the
model, and the GBNF alternatives that hold a citation to one of them."""

from __future__ import annotations

import json
from abc import abstractmethod
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.evidence import statute_citations_verdict
from ..common.rows import kept_if_verified, packaged_rows
from ..common.sources import PackagedSource
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

STATUTES = "legal_statutes.jsonl"
QUESTIONS = "legal_questions.jsonl"
STAGE = "instruction tuning (legal domain)"
# GBNF: a line of text that starts with a letter (not the prompt's "..." copied), no brackets
LINE_RULE = "line ::= [A-Za-z] [^\\n\\[\\]]*\n"


@register(
    "legal.questions",
    taxonomy="I/O (legal questions)",
    stage=STAGE,
    paper="-",
)
class Questions(PackagedSource):
    """Legal questions with fact patterns (default: 12 shipped, on U.S. constitutional law)."""

    builtin = QUESTIONS
    required = ("question",)


class ArticleParams(BaseModel):
    """Where the retrieved articles' text comes from, and how citations are decoded."""

    model_config = ConfigDict(extra="forbid")
    statutes: str | None = Field(
        None, description="the chunks file retrieved from (default: the shipped statutes)"
    )
    constrain: Literal["none", "citations"] = Field(
        "none",
        description="citations: a grammar holds each citation to a retrieved article's id "
        "(for small models; the check still runs); none: free text, as the paper",
    )
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(384, ge=32)


@cache
def _statutes(path: str | None) -> dict[str, dict[str, Any]]:
    rows = packaged_rows(path, STATUTES, ["chunk_id", "text"])
    return {str(row["chunk_id"]): row for row in rows}


def retrieved_articles(row: dict[str, Any], statutes: str | None) -> list[dict[str, str]]:
    """``[{id, title, text}]`` of the row's ``retrieved`` chunks, best first (``RowError``
    ``no_articles`` when nothing was retrieved)."""
    known = _statutes(statutes)
    found = [known[str(hit["chunk_id"])] for hit in row.get("retrieved") or []
             if str(hit["chunk_id"]) in known]  # fmt: skip
    if not found:
        raise RowError("no_articles", "no article was retrieved for this question")
    return [{"id": str(a["chunk_id"]), "title": str(a.get("title") or ""), "text": str(a["text"])}
            for a in found]  # fmt: skip


def shown(articles: list[dict[str, str]]) -> str:
    """The articles as the prompts list them: ``[id] text``, one a line."""
    return "\n".join(f"[{a['id']}] {a['text']}" for a in articles)


def citation_rule(articles: list[dict[str, str]]) -> str:
    """GBNF rule ``cite``: a ``[id]`` citation of one of ``articles``."""
    ids = " | ".join(json.dumps(f"[{a['id']}]", ensure_ascii=False) for a in articles)
    return f"cite ::= {ids}\n"


def reference(articles: list[dict[str, str]]) -> list[dict[str, str]]:
    """The record's ``reference``: the articles the answer was written from (DISC-Law-SFT's
    triplets keep them as the third element)."""
    return [{"id": a["id"], "text": a["text"]} for a in articles]


def grounded_input(articles: list[dict[str, str]], question: str) -> str:
    """The training input: the related articles, then the question (Lawyer LLaMA's and
    DISC-Law-SFT-Triplet's inputs carry the retrieved articles with the question)."""
    return f"Related legal articles:\n{shown(articles)}\n\nQuestion: {question}"


class CitingStep(ModelStep):
    """A legal step: one request per row showing its retrieved articles (``template``, with a
    ``grammar`` when ``constrain: citations``), a reply whose citations must all be among
    them; a record whose check fails is an error row ``uncited``."""

    params: ArticleParams
    seed_data: ClassVar[dict[str, str]] = {"statutes": STATUTES}
    template: ClassVar[str]
    uncited: ClassVar[str] = "uncited_article"

    @abstractmethod
    def grammar(self, articles: list[dict[str, str]]) -> str:
        """The GBNF the reply is decoded under with ``constrain: citations``."""

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        articles = retrieved_articles(row, p.statutes)
        prompt = render(__file__, self.template, articles=articles, shown=shown(articles),
                        params=p, **{k: row[k] for k in self.reads if k != "retrieved"})  # fmt: skip
        grammar = self.grammar(articles) if p.constrain == "citations" else None
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     seed=ctx.seed(row[META]["id"]), grammar=grammar)]  # fmt: skip

    def articles(self, row: dict[str, Any]) -> list[dict[str, str]]:
        return retrieved_articles(row, self.params.statutes)

    @staticmethod
    def checked(text: str, articles: list[dict[str, str]]) -> dict[str, Any]:
        """The ``verification`` of ``text``'s citations of ``articles``."""
        return statute_citations_verdict(text, [a["id"] for a in articles])

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        v = record["verification"]
        message = f"cited {v['cited']}, not retrieved {v['unknown']}: {v['text'][:160]!r}"
        return kept_if_verified(self, row, record, self.uncited, message)
