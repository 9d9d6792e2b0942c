"""Helpers shared by the scripted generators: parameter checks, exact formatting, the item dict.

Every generator returns ``{"question", "answer", "solution", "params"}`` where ``answer`` is an
exact string (an integer, a reduced fraction ``p/q`` or a sympy expression in sympy's ``str``
form) and ``solution`` ends with the line ``The answer is <answer>.`` (AMPS, Hendrycks et al.,
2021: scripted problems whose answers come from a computer algebra system, not a model).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy

X = sympy.Symbol("x")


def need_int(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``, or a ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def need_float(name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low} to {high}, got {value!r}")
    return float(value)


def need_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def need_choice(name: str, value: Any, options: Sequence[str]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")
    return value


def need_subset(name: str, values: Any, options: Sequence[str]) -> list[str]:
    """A non-empty list drawn from ``options`` (a string of one-character options also works)."""
    chosen = list(values) if isinstance(values, list | tuple | str) else None
    if not chosen or any(v not in options for v in chosen):
        raise ValueError(
            f"{name} must be a non-empty list from {', '.join(options)}, got {values!r}"
        )
    return chosen


def nonzero(rng: random.Random, low: int, high: int) -> int:
    """A random non-zero integer in ``[low, high]`` (the range must contain one)."""
    value = 0
    while value == 0:
        value = rng.randint(low, high)
    return value


def exact(value: Fraction | int | sympy.Basic) -> str:
    """An exact answer string: ``7``, ``-3/4`` or sympy's ``str`` of an expression."""
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else str(value)
    return str(value)


def sym(value: Fraction | int) -> sympy.Rational:
    """A Fraction as a sympy Rational."""
    value = Fraction(value)
    return sympy.Rational(value.numerator, value.denominator)


def item(question: str, answer: str, steps: list[str], params: dict[str, Any]) -> dict[str, Any]:
    """The generator contract: the solution is the steps and a final ``The answer is`` line."""
    return {
        "question": question,
        "answer": answer,
        "solution": "\n".join([*steps, f"The answer is {answer}."]),
        "params": params,
    }


def euclid(a: int, b: int) -> tuple[int, list[str]]:
    """gcd(a, b) of positive integers with the division steps of Euclid's algorithm."""
    steps = []
    while b:
        q, r = divmod(a, b)
        steps.append(f"{a} = {q} * {b} + {r}")
        a, b = b, r
    return a, steps
