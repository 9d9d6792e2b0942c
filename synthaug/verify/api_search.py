"""ToolCoder's API-search calls in code: parsing, stripping, the real search, the filter, and
the ``api_search`` verdict that ``synthaug verify`` re-checks.

A call is ``<API>APISearch(query)→answer</API>`` ("->" is read as "→"), inserted in code right
before the API it looks up. The search is BM25 over an index of a real code base's public API
(``retrieval.api_index``: names, signatures, first docstring paragraphs) and answers with the
names of the top ``k`` entries. A call is kept when the API the code uses right after it is
one of the names its search answered.

Evidence of ``api_search``: ``api_source``, ``k``, ``filtered``, ``annotated`` (the code with
its calls), ``calls[{query, answer, position, api}]``, ``code``, ``tests``, ``passed``,
``execution``. The re-check parses ``annotated`` again (its calls and its stripped code must be
those stored), re-runs every query against a freshly built index (same answers), re-finds the
API after each call and, when ``filtered`` (annotation, not generation), re-applies the filter
(every call's API in its answer), and re-runs the code with its tests in the sandbox.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass
from typing import Any

from ..retrieval.api_index import ApiSource, api_index
from .code import run_tests
from .evidence import verdict
from .sandbox import Sandbox

KIND = "api_search"
START, END, ARROW = "<API>", "</API>", "→"
_CALL = re.compile(r"<API>APISearch\((?P<query>[^\n]*?)\)\s*(?:→|->)\s*(?P<answer>[^\n]*?)</API>")
_MARKERS = ("<API>", "</API>", "APISearch(")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*")


class CallFormatError(ValueError):
    """Annotated code whose calls do not parse (a marker outside a well-formed call)."""


@dataclass(frozen=True)
class Call:
    """One parsed call: ``position`` is its offset in the code with every call removed."""

    query: str
    answer: str
    position: int


def call_text(query: str, answer: str) -> str:
    return f"{START}APISearch({query}){ARROW}{answer}{END}"


def parse_calls(annotated: str) -> tuple[str, list[Call]]:
    """The code without its calls and the calls, in order; ``CallFormatError`` when a marker
    is left outside a well-formed call or a query is empty."""
    calls, parts, at, removed = [], [], 0, 0
    for match in _CALL.finditer(annotated):
        parts.append(annotated[at : match.start()])
        query = match.group("query").strip()
        if not query:
            raise CallFormatError(f"an empty query at offset {match.start()}")
        calls.append(Call(query, match.group("answer").strip(), match.start() - removed))
        removed += match.end() - match.start()
        at = match.end()
    code = "".join(parts) + annotated[at:]
    left = [marker for marker in _MARKERS if marker in code]
    if left:
        raise CallFormatError(f"{left[0]!r} outside a well-formed {call_text('query', 'answer')}")
    return code, calls


def insert_calls(code: str, calls: list[Call]) -> str:
    """``code`` with each call written at its position (the inverse of ``parse_calls``)."""
    out, at = [], 0
    for call in sorted(calls, key=lambda c: c.position):
        out += [code[at : call.position], call_text(call.query, call.answer)]
        at = call.position
    return "".join(out) + code[at:]


def imported_names(code: str) -> dict[str, str]:
    """What each imported name stands for: ``import numpy as np`` -> ``np: numpy``, ``from
    collections import Counter`` -> ``Counter: collections.Counter``; empty when the code
    does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return {}
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def api_after(code: str, position: int) -> str | None:
    """The API the code uses right after ``position``, on the same line: the first dotted name
    there that is imported (its import resolved: ``np.squeeze`` -> ``numpy.squeeze``), or that
    is called or is an attribute chain (``.read_text`` for ``p.read_text``: the owner of an
    instance's method is not known statically); None when there is none."""
    line = code[position:].split("\n", 1)[0]
    imported = imported_names(code)
    for match in _DOTTED.finditer(line):
        if match.start() and line[match.start() - 1] == ".":  # inside a chain begun before
            continue
        parts = [p.strip() for p in match.group().split(".")]
        if keyword.iskeyword(parts[0]):
            continue
        if parts[0] in imported:
            return ".".join([imported[parts[0]], *parts[1:]])
        if len(parts) > 1:
            return "." + ".".join(parts[1:])
        if line[match.end() :].lstrip().startswith("("):
            return parts[0]
    return None


def answered(api: str | None, answer: list[str]) -> bool:
    """Whether the API used after a call is among the names its search answered (a method of
    an unknown owner, ``.read_text``, matches a name ending in it)."""
    if not api:
        return False
    if api.startswith("."):
        return any(name.endswith(api) for name in answer)
    return api in answer


def search(source: ApiSource, query: str, k: int) -> list[str]:
    """The tool's answer: the names of the top ``k`` entries for ``query``."""
    return [entry.name for entry, _ in api_index(source).search(query, k)]


async def api_search_verdict(
    sandbox: Sandbox, source: ApiSource, k: int, code: str, calls: list[dict[str, Any]],
    tests: str, filtered: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """The verdict of code with ``calls`` (``{query, answer, position, api}``; ``filtered``:
    only calls that passed the filter): verified when there is at least one and the code
    passes its tests."""
    result = await run_tests(sandbox, code, tests)
    annotated = insert_calls(code, [Call(c["query"], ", ".join(c["answer"]), c["position"])
                                    for c in calls])  # fmt: skip
    return verdict(KIND, bool(calls) and result.ok, api_source=source.described(), k=k,
                   filtered=filtered, annotated=annotated, calls=calls, code=code, tests=tests,
                   passed=result.ok, execution=result.evidence())  # fmt: skip


async def recheck(v: dict[str, Any], sandbox: Sandbox) -> bool:
    """Whether the stored evidence gives the stored verdict again (see the module doc)."""
    try:
        code, parsed = parse_calls(v["annotated"])
    except CallFormatError:
        return False
    stored = [(c["query"], ", ".join(c["answer"]), c["position"]) for c in v["calls"]]
    if code != v["code"] or [(c.query, c.answer, c.position) for c in parsed] != stored:
        return False
    source = ApiSource(**v["api_source"])
    for call in v["calls"]:
        if search(source, call["query"], v["k"]) != call["answer"]:
            return False
        if call["api"] != api_after(code, call["position"]):
            return False
        if v["filtered"] and not answered(call["api"], call["answer"]):
            return False
    result = await run_tests(sandbox, v["code"], v["tests"])
    return result.ok == v["passed"] and (bool(v["calls"]) and result.ok) == v["verified"]
