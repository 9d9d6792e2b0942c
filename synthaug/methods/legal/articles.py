"""What the legal steps share: the shipped questions, the articles retrieved for a row (the
``retrieve`` step's ``[{chunk_id, score}]`` resolved to their text), how they are shown to the
model, and the GBNF alternatives that hold a citation to one of them."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError
from ..common.rows import packaged_rows
from ..common.sources import PackagedSource
from ..registry import register

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
