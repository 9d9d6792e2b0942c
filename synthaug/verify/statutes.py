"""Citations of statutes in a legal answer, ``[U.S. Const. amend. IV]``, written and checked:
every article an answer cites must be one retrieved for its question (the evidence it was
given), and it must cite at least one."""

from __future__ import annotations

import re
from typing import Any

CITATION = re.compile(r"\[([^\[\]\n]{1,120})\]")


def citation(article_id: str) -> str:
    """``[ID]``, how an answer cites an article."""
    return f"[{article_id}]"


def cited_articles(text: str) -> list[str]:
    """The article ids a text cites in square brackets, in order, each once (whitespace
    normalised)."""
    cited: list[str] = []
    for match in CITATION.finditer(text):
        article = " ".join(match.group(1).split())
        if article and article not in cited:
            cited.append(article)
    return cited


def check_statute_citations(text: str, retrieved: list[str]) -> dict[str, Any]:
    """``cited``, ``unknown`` (cited, not among ``retrieved``) and ``verified``: something
    cited, and all of it retrieved."""
    cited = cited_articles(text)
    unknown = [article for article in cited if article not in retrieved]
    return {"cited": cited, "unknown": unknown, "verified": bool(cited) and not unknown}
