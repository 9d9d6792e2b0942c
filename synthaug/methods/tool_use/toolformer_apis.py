"""Toolformer's five APIs (Schick et al., 2023, §3 and Appendix A): name, the paper's few-shot
prompt (Appendix A.2, ``templates/toolformer_<name>.j2``), executor and the paper's settings.

Settings (Appendix A): τ_s = 0.05, k = 5, m = 5, τ_f = 1.0 by default; the Calculator and MT
run on a heuristically filtered subset, which the paper compensates with τ_s = 0.0, k = 20,
m = 10 and τ_f = 0.5. Executors, and how each differs from the paper's:

- ``sandbox`` (Calculator): the built-in ``calculate`` tool in synthaug's sandbox (sympy's
  exact arithmetic; the paper: a Python script with + - * /), rounded to two places;
- ``model`` (QA, MT): the recipe's backend answers (the paper: Atlas fine-tuned on Natural
  Questions for QA; NLLB 600M for MT); the answer is cut to its first line;
- ``bm25`` (WikiSearch): BM25 over a local corpus file (the paper: BM25 over KILT's Wikipedia
  dump), the best passages as ``title » text`` shortened to ``max_words`` words (the paper
  shows one such snippet and states no length: ours is a choice);
- ``date`` (Calendar): the text's date as "Today is Monday, January 30, 2023." (the paper:
  the document's creation date, from its URL; texts without one are left out for it).

MT applies only to texts with a non-English span (``foreign_span``): the paper's 10-token
chunks, a middle chunk of another language with confidence > 0.8 between English chunks,
chunks of only numbers or symbols skipped; the paper's classifier is fastText's, here
py3langid (its model ships with the package). The paper's later MT filter (a call whose input
appears after the call but not before it is dropped) is ``looks_ahead``. The Calculator
applies only to texts that pass the paper's heuristic (``calculator_worthy``): three numbers
within 100 tokens (words here), one the result of + - * / on the other two (to two decimal
places here); or "=",
"equals", "equal to", "total of", "average of" followed by a number; or at least three
numbers, of which texts a 1 % subset is kept (chosen by a hash of the text here).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from ...llm.types import ChatRequest

ARROW, CALL_END = "→", "]"
ApiName = Literal["Calculator", "QA", "WikiSearch", "MT", "Calendar"]
QUOTES = "\"'“”‘’"
CHUNK_TOKENS, MIN_CONFIDENCE = 10, 0.8  # the paper's MT filter


@dataclass(frozen=True)
class Api:
    """A paper API: its name in calls, prompt template, executor and the paper's settings."""

    name: str
    template: str
    executor: Literal["sandbox", "model", "bm25", "date"]
    threshold: float  # τ_s
    top_k: int  # k
    samples: int  # m
    filter_threshold: float  # τ_f
    takes_input: bool = True

    def call(self, argument: str, result: str | None) -> str:
        """e(c, r): ``[API(argument) → r]``; with ``result`` None, e(c, ε)."""
        return f"[{self.name}({argument}) {ARROW} {result or ''}".rstrip() + CALL_END


APIS: dict[str, Api] = {
    "Calculator": Api("Calculator", "toolformer_calculator.j2", "sandbox", 0.0, 20, 10, 0.5),
    "QA": Api("QA", "toolformer_qa.j2", "model", 0.05, 5, 5, 1.0),
    "WikiSearch": Api("WikiSearch", "toolformer_wikisearch.j2", "bm25", 0.05, 5, 5, 1.0),
    "MT": Api("MT", "toolformer_mt.j2", "model", 0.0, 20, 10, 0.5),
    "Calendar": Api("Calendar", "toolformer_calendar.j2", "date", 0.05, 5, 5, 1.0, False),
}


def parse_call(sampled: str) -> str | None:
    """The argument of a call sampled after ``API(``: the text before ``)]``; None when the
    sample does not close the call (the paper discards it)."""
    end = sampled.find(CALL_END)
    inside = sampled[:end].rstrip() if end >= 0 else ""
    if not inside.endswith(")") or not inside[:-1].strip():
        return None
    return inside[:-1].strip()


def query_of(argument: str) -> str:
    """What the executor gets: the argument without the quotes the prompts put around it."""
    return argument.strip().strip(QUOTES).strip()


def model_request(api: Api, query: str) -> ChatRequest:
    """The backend's stand-in for Atlas (QA) or NLLB (MT): a short greedy answer."""
    ask = (
        f"Answer the question in a few words.\nQuestion: {query}\nAnswer:"
        if api.name == "QA"
        else f"Translate into English.\nText: {query}\nEnglish:"
    )
    return ChatRequest(prompt=ask, temperature=0, max_tokens=24, stop=("\n",))


def model_result(text: str) -> str | None:
    """The first line of the answer, brackets replaced so the call stays one ``[...]``."""
    line = text.strip().split("\n")[0].strip().replace("[", "(").replace("]", ")")
    return line or None


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language(chunk: str) -> tuple[str, float]:
    lang, probability = _identifier().classify(chunk)
    return str(lang), float(probability)


def foreign_span(text: str) -> str | None:
    """The paper's MT text filter: the first 10-token chunk in another language than English
    (confidence > 0.8) with English chunks before and after it; None when there is none."""
    words = text.split()
    chunks = [" ".join(words[i : i + CHUNK_TOKENS]) for i in range(0, len(words), CHUNK_TOKENS)]
    for before, middle, after in zip(chunks, chunks[1:], chunks[2:], strict=False):
        if not re.search(r"[^\W\d_]", middle):  # only numbers or symbols
            continue
        lang, confidence = language(middle)
        if (
            lang != "en"
            and confidence > MIN_CONFIDENCE
            and (language(before)[0] == "en" and language(after)[0] == "en")
        ):
            return middle
    return None


def looks_ahead(text: str, offset: int, query: str) -> bool:
    """The paper's MT call filter: the input appears after the call but not before it."""
    return query in text[offset:] and query not in text[:offset]


NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")
STATED = re.compile(r"(?:=|\bequals?\b|\bequal to\b|\btotal of\b|\baverage of\b)\s*\$?\d", re.I)
WINDOW = 100  # the paper's window of 100 tokens, in words here


def _numbers(text: str) -> list[tuple[int, float]]:
    """(word index, value) of each number in ``text``."""
    found = []
    for index, word in enumerate(text.split()):
        found += [(index, float(m.group().replace(",", ""))) for m in NUMBER.finditer(word)]
    return found


def computed_triple(numbers: list[tuple[int, float]]) -> bool:
    """Three numbers within ``WINDOW`` words, one the result of + - * / on the other two."""
    for start, (at, _) in enumerate(numbers):
        window = [value for index, value in numbers[start:] if index - at < WINDOW]
        for i, j in itertools.permutations(range(len(window)), 2):
            a, b = window[i], window[j]
            results = {a + b, a - b, a * b} | ({a / b} if b else set())
            others = (v for k, v in enumerate(window) if k not in (i, j))
            if any(abs(v - r) < 0.01 for v in others for r in results):  # to two places
                return True
    return False


def calculator_worthy(text: str) -> bool:
    """The paper's Calculator text filter (Appendix A.1)."""
    numbers = _numbers(text)
    if (len(numbers) >= 3 and computed_triple(numbers)) or STATED.search(text):
        return True
    sampled = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 100 == 0  # the 1 % subset
    return len(numbers) >= 3 and sampled
