"""Toolformer's deterministic API executors and the re-check of its ``toolformer`` evidence.

The executors here give the same result every time, so ``synthaug verify`` runs them again:

- Calculator: the sandboxed ``calculate`` tool (its stored code), rounded to two places;
- Calendar: the document's date as the paper's sentence ("Today is Monday, January 30, 2023.");
- WikiSearch: BM25 (``retrieval.BM25Index``) over a corpus file, the best passages as
  ``title » text`` shortened to a number of words.

The model-backed APIs (QA, MT) are answered by the backend; their results are taken as stored.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date
from functools import lru_cache
from typing import Any

from ..io import read_records
from .sandbox import Sandbox

SNIPPET_SEPARATOR = " » "  # the paper's Table 1: "Spin fishing » Spin fishing is …"


def round_result(value: dict[str, Any]) -> str:
    """The calculator's answer as the paper gives it: rounded to two decimal places."""
    if value["exact"] == value["decimal"]:  # an integer
        return value["exact"]
    return f"{float(value['decimal']):.2f}"


def calendar_sentence(day: str) -> str:
    """The paper's Calendar result for an ISO date ``YYYY-MM-DD``; ``ValueError`` otherwise."""
    when = date.fromisoformat(day[:10])
    return f"Today is {when:%A}, {when:%B} {when.day}, {when.year}."


def file_digest(path: str) -> str:
    """The sha256 of the file (computed again only when its size or time changes)."""
    stat = os.stat(path)
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _digest(path: str, _size: int, _mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@lru_cache(maxsize=4)
def _corpus(path: str, digest: str) -> tuple[list[str], Any]:
    from ..retrieval.lexical import BM25Index

    records = list(read_records(path, required=["text"]))
    passages = [
        f"{r['title']}{SNIPPET_SEPARATOR}{r['text']}" if r.get("title") else str(r["text"])
        for r in records
    ]
    return passages, BM25Index([str(r["text"]) for r in records])


def shorten(passage: str, max_words: int) -> str:
    words = passage.split()
    return " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")


def wiki_search(path: str, query: str, snippets: int, max_words: int) -> dict[str, Any]:
    """The WikiSearch result: the ``snippets`` best BM25 passages for ``query``, each cut to
    ``max_words`` words, joined by spaces; with the corpus ``sha256`` and the ``hits``."""
    digest = file_digest(path)
    passages, index = _corpus(path, digest)
    hits = index.search([query], snippets)[0]
    if not hits:
        return {"error": "no passage shares a word with the search term", "sha256": digest}
    text = " ".join(shorten(passages[h.index], max_words) for h in hits)
    return {"result": re.sub(r"\s+", " ", text).replace("]", ")"), "hits": [h.index for h in hits],
            "sha256": digest}  # fmt: skip


def gain_holds(call: dict[str, Any]) -> bool:
    """The loss filter recomputed: L⁻ = min(L(ε), L(e(c, ε))), gain = L⁻ - L⁺ ≥ τ_f."""
    minus = min(call["loss_none"], call["loss_no_result"])
    return abs(round(minus - call["loss_plus"], 6) - call["gain"]) <= 1e-6 and (
        call["gain"] >= call["threshold"]
    )


async def recheck(v: dict[str, Any], sandbox: Sandbox) -> bool:
    """Every kept call passes the filter arithmetic; Calculator, Calendar and WikiSearch calls
    give their stored results again; QA and MT results are taken as stored."""
    from ..tools.execute import run_calls

    calls = v["calls"]
    if not calls or not all(gain_holds(c) for c in calls):
        return v["verified"] is False
    for call in calls:
        api = call["api"]
        if api == "Calculator":
            tool = {"name": "calculate", "arguments": {"expression": call["query"]}}
            (outcome,), _ = await run_calls(sandbox, [tool], v["implementations"])
            if (
                outcome != {"return": call["return"]}
                or round_result(call["return"]) != call["result"]
            ):
                return False
        elif api == "Calendar":
            if calendar_sentence(v["date"]) != call["result"]:
                return False
        elif api == "WikiSearch":
            corpus = v["corpus"]
            again = wiki_search(corpus["path"], call["query"], corpus["snippets"],
                                corpus["max_words"])  # fmt: skip
            if again.get("sha256") != corpus["sha256"] or again.get("result") != call["result"]:
                return False
        elif api not in v["stored"]:
            return False
    return v["verified"] is True
