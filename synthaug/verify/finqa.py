"""FinQA-style programs over a financial document: the numbers a program uses must come from
the document (or be one of FinQA's constants), and its answer is what it prints when run."""

from __future__ import annotations

import ast
import re
from typing import Any

# FinQA's program constants (const_1 ... const_10, const_100, const_1000, ..., const_m1)
CONSTANTS = frozenset({*range(1, 11), 100, 1000, 10000, 100000, 1000000, -1})
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?")


def document_numbers(text: str) -> list[float]:
    """The numbers written in a document (``4,812``, ``$48.6``, ``2023``), each once, in order."""
    found: list[float] = []
    for match in _NUMBER.finditer(text):
        value = float(match.group(0).replace(",", ""))
        if value not in found:
            found.append(value)
    return found


def literals(code: str) -> list[float]:
    """The numeric literals of a program (a negated literal counts as negative), in order;
    ``[]`` when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    negated = {id(node.operand) for node in ast.walk(tree)
               if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            found.append(-float(node.value) if id(node) in negated else float(node.value))
    return found


def check_grounding(code: str, numbers: list[float]) -> dict[str, Any]:
    """``literals`` of ``code``, the ``ungrounded`` ones (neither among the document's
    ``numbers``, up to sign, nor a FinQA constant) and ``grounded``: no ungrounded literal,
    and one at least from the document (a program of constants alone reads nothing of it)."""
    used = literals(code)
    document = {abs(n) for n in numbers}
    ungrounded = [n for n in used if abs(n) not in document and n not in CONSTANTS]
    grounded = not ungrounded and any(abs(n) in document for n in used)
    return {"literals": used, "ungrounded": ungrounded, "grounded": grounded}


def numeric(answer: str | None) -> float | None:
    """``answer`` as a number, or None when it is not one."""
    try:
        return float(str(answer).replace(",", "")) if answer is not None else None
    except ValueError:
        return None
