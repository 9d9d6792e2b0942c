"""Final-answer extraction and equivalence for math rationales.

``extract_answer`` reads the last ``\\boxed{}``, else the text after the last
``####`` (GSM8K), else after the last "The answer is" / "Answer:", else (only
with ``last_number=True``) the last number; ``stated_answer`` also names the
form it found (``boxed``, ``####``, ``answer_is``, ``last_number``). ``answers_match`` compares numerically (commas, ``$``, ``%``,
units and LaTeX fractions stripped; relative tolerance) and then symbolically
with sympy (``simplify(a - b) == 0``); comma-separated answers compare as sets,
parenthesised ones as ordered tuples.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

MAX_SYMBOLIC_CHARS = 200  # longer expressions are compared as strings only
NUMBER = r"-?\d[\d,]*(?:\.\d+)?(?:/\d+(?:\.\d+)?)?|-?\.\d+"
_ANSWER_IS = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is\s*:?|final\s+answer\s*[:=]|answer\s*[:=])\s*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_LATEX_SIMPLE = {
    r"\left": "",
    r"\right": "",
    r"\!": "",
    r"\,": "",
    r"\;": "",
    r"\cdot": "*",
    r"\times": "*",
    r"\div": "/",
    r"\pi": "pi",
    r"\infty": "oo",
    r"\%": "%",
    r"\$": "",
    "$": "",
    "^{\\circ}": "",
    "^\\circ": "",
    "°": "",
}


def _boxed(text: str) -> str | None:
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for position in range(brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        if depth == 0:
            return text[brace + 1 : position].strip()
    return None


def extract_answer(text: str, last_number: bool = True) -> str | None:
    """The final answer stated in ``text``, or None."""
    return stated_answer(text, last_number)[0]


def stated_answer(text: str, last_number: bool = True) -> tuple[str | None, str | None]:
    """(the final answer in ``text``, the form it was stated in), or (None, None)."""
    if not text:
        return None, None
    if (boxed := _boxed(text)) is not None:
        return boxed, "boxed"
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip().splitlines()
        if tail and tail[0].strip():
            return tail[0].strip(), "####"
    stated = list(_ANSWER_IS.finditer(text))
    if stated and (rest := stated[-1].group("rest").strip()):
        return _trim_sentence(rest), "answer_is"
    numbers = re.findall(NUMBER, text) if last_number else []
    return (numbers[-1].rstrip(","), "last_number") if numbers else (None, None)


def _trim_sentence(rest: str) -> str:
    rest = rest.strip().strip("*").strip()
    if (boxed := _boxed(rest)) is not None:
        return boxed
    if rest.startswith("$") and rest.count("$") >= 2:
        return rest[1 : rest.index("$", 1)].strip()
    return re.split(r"\.(?:\s|$)", rest, maxsplit=1)[0].strip().rstrip(".")


def _latex_to_plain(text: str) -> str:
    for source, target in _LATEX_SIMPLE.items():
        text = text.replace(source, target)
    text = re.sub(r"\\text\{[^{}]*\}|\\mbox\{[^{}]*\}|\\mathrm\{([^{}]*)\}", r"\1", text)
    for _ in range(3):  # nested fractions
        text = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", text)
        text = re.sub(r"\\[dt]?frac(\d)(\d)", r"((\1)/(\2))", text)
        text = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", text)
    text = re.sub(r"\\sqrt(\d+)", r"sqrt(\1)", text)
    return text.replace("{", "(").replace("}", ")").replace("\\", "")


def normalize(answer: str) -> str:
    """A comparable plain-text form: LaTeX, currency, thousands separators, units removed."""
    text = _latex_to_plain(answer.strip())
    text = _THOUSANDS.sub("", text)
    text = text.strip().rstrip(".").strip()
    text = re.sub(r"^[a-zA-Z]\s*=\s*", "", text)  # "x = 5"
    unit_tail = re.fullmatch(rf"\s*({NUMBER})\s*%?\s*[a-zA-Z£€ ]*[a-zA-Z]\.?\s*", text)
    if unit_tail:  # "220 minutes", "12 dollars"
        text = unit_tail.group(1)
    return text.replace("£", "").replace("€", "").strip()


def _number(text: str) -> Fraction | None:
    text = text.replace(" ", "")
    percent = text.endswith("%")
    text = text.rstrip("%")
    match = re.fullmatch(r"\(?\(?(-?[\d.]+)\)?(?:/\(?([\d.]+)\)?)?\)?", text)
    if not match:
        return None
    try:
        value = Fraction(match.group(1))
        if match.group(2):
            value /= Fraction(match.group(2))
    except (ValueError, ZeroDivisionError):
        return None
    return value / 100 if percent else value


def _close(a: Fraction | float, b: Fraction | float, rel_tol: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=1e-9)


@lru_cache(maxsize=4096)
def _sympy_equal(a: str, b: str, rel_tol: float) -> bool:
    if max(len(a), len(b)) > MAX_SYMBOLIC_CHARS:
        return False
    try:
        from sympy import N, simplify
        from sympy.parsing.sympy_parser import (
            convert_xor,
            implicit_multiplication_application,
            parse_expr,
            standard_transformations,
        )

        rules = (*standard_transformations, implicit_multiplication_application, convert_xor)
        left, right = parse_expr(a, transformations=rules), parse_expr(b, transformations=rules)
        difference = simplify(left - right)
        if difference == 0:
            return True
        value = complex(N(difference))
        return abs(value) <= rel_tol * max(1e-9, abs(complex(N(right))))
    except Exception:  # anything sympy cannot read is "not equal"
        return False


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _single_match(a: str, b: str, rel_tol: float) -> bool:
    if a == b or a.lower() == b.lower():
        return True
    left, right = _number(a), _number(b)
    if left is not None and right is not None:
        if _close(left, right, rel_tol):
            return True
        bare_left, bare_right = _number(a.rstrip("%")), _number(b.rstrip("%"))  # "50%" vs "50"
        return bare_left is not None and _close(bare_left, bare_right, rel_tol)  # type: ignore[arg-type]
    return _sympy_equal(a.rstrip("%"), b.rstrip("%"), rel_tol)


def answers_match(predicted: str | None, gold: str, rel_tol: float = 1e-4) -> bool:
    """Whether ``predicted`` and ``gold`` state the same answer."""
    if predicted is None:
        return False
    a, b = normalize(str(predicted)), normalize(str(gold))
    if not a or not b:
        return False
    if _single_match(a, b, rel_tol):
        return True
    tuples = a.startswith("(") and a.endswith(")") and b.startswith("(") and b.endswith(")")
    parts_a, parts_b = (
        _split_top_level(a[1:-1] if tuples else a),
        _split_top_level(b[1:-1] if tuples else b),
    )
    if len(parts_a) != len(parts_b) or len(parts_a) < 2:
        return False
    if tuples:
        return all(
            _single_match(x.strip(), y.strip(), rel_tol)
            for x, y in zip(parts_a, parts_b, strict=True)
        )
    unmatched = [y.strip() for y in parts_b]
    for x in parts_a:
        hit = next((y for y in unmatched if _single_match(x.strip(), y, rel_tol)), None)
        if hit is None:
            return False
        unmatched.remove(hit)
    return True


def check_answer(text: str, gold: str, last_number: bool = True) -> dict[str, Any]:
    """``{"extracted", "form", "gold", "match"}`` for a rationale ``text`` against ``gold``
    (``form``: how the answer was stated; ``last_number``: whether a bare last number counts)."""
    extracted, form = stated_answer(text, last_number)
    return {
        "extracted": extracted,
        "form": form,
        "gold": str(gold),
        "match": answers_match(extracted, gold),
    }


def program_answer(stdout: str) -> str | None:
    """The answer a program printed: its last non-empty line (or the answer stated in it)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    if last == "None":  # a function that returned nothing
        return None
    return last if re.fullmatch(rf"\s*(?:{NUMBER})\s*", last) else extract_answer(last) or last
