"""Fraction generators (AMPS-style, Hendrycks et al., 2021): arithmetic on fractions through a
common denominator, and reduction to lowest terms by the gcd. Answers are exact ``Fraction``s."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

from .common import euclid, exact, item, need_bool, need_int, need_subset

NAMES = {"+": "Add", "-": "Subtract", "*": "Multiply", "/": "Divide"}


def _fraction(rng: random.Random, max_denominator: int, negative: bool) -> Fraction:
    denominator = rng.randint(2, max_denominator)
    numerator = rng.randint(1, 2 * denominator - 1)
    while math.gcd(numerator, denominator) != 1:
        numerator = rng.randint(1, 2 * denominator - 1)
    sign = -1 if negative and rng.random() < 0.3 else 1
    return Fraction(sign * numerator, denominator)


def _show(value: Fraction, op: str) -> str:
    """A written fraction; in products and quotients (and when negative) in parentheses."""
    text = exact(value)
    return f"({text})" if op in "*/" or value < 0 else text


def _simplified(numerator: int, denominator: int) -> tuple[Fraction, list[str]]:
    value = Fraction(numerator, denominator)
    g = math.gcd(numerator, denominator)
    if g == 1:
        return value, [f"{numerator}/{denominator} is already in lowest terms."]
    return value, [
        f"Simplify {numerator}/{denominator}: gcd({abs(numerator)}, {denominator}) = {g}, "
        f"so it equals {exact(value)}."
    ]


def _combine(left: Fraction, right: Fraction, op: str) -> tuple[Fraction, list[str]]:
    """``left op right`` with the steps a student writes."""
    a, b, c, d = left.numerator, left.denominator, right.numerator, right.denominator
    if op in "+-":
        lcd = b * d // math.gcd(b, d)
        p, q = a * (lcd // b), c * (lcd // d)
        total = p + q if op == "+" else p - q
        steps = [f"{p}/{lcd} {op} {_paren(q)}/{lcd} = {total}/{lcd}."]
        if b != d:
            steps[:0] = [
                f"The least common denominator of {b} and {d} is {lcd}.",
                f"{exact(left)} = {p}/{lcd} and {exact(right)} = {q}/{lcd}.",
            ]
    else:
        if op == "/":
            steps = [f"Dividing by {exact(right)} is multiplying by its reciprocal {d}/{c}."]
            c, d = d, c
            if d < 0:
                c, d = -c, -d
        else:
            steps = []
        numerator, denominator = a * c, b * d
        steps.append(
            f"Multiply numerators and denominators: ({a} * {_paren(c)})/({b} * {d}) = "
            f"{numerator}/{denominator}."
        )
        total, lcd = numerator, denominator
    value, simplify = _simplified(total, lcd)
    return value, steps + simplify


def _paren(n: int) -> str:
    return f"({n})" if n < 0 else str(n)


def arithmetic(
    rng: random.Random,
    terms: int = 2,
    max_denominator: int = 12,
    ops: str | list[str] = "+-*/",
    negative: bool = False,
) -> dict[str, Any]:
    """Combine ``terms`` fractions (2-4, denominators up to 2-50) with one operation from
    ``ops``, left to right; ``negative`` allows negative fractions."""
    need_int("terms", terms, 2, 4)
    need_int("max_denominator", max_denominator, 2, 50)
    need_bool("negative", negative)
    chosen = need_subset("ops", ops, list(NAMES))
    op = rng.choice(chosen)
    values = [_fraction(rng, max_denominator, negative) for _ in range(terms)]
    if op == "/":
        values = [v if v != 0 else Fraction(1) for v in values]
    expression = f" {op} ".join(_show(v, op) for v in values)
    steps: list[str] = []
    current = values[0]
    for value in values[1:]:
        if terms > 2:
            steps.append(f"Left to right: {_show(current, op)} {op} {_show(value, op)}.")
        current, more = _combine(current, value, op)
        steps.extend(more)
    params = {"terms": terms, "max_denominator": max_denominator, "ops": "".join(chosen)}
    params["negative"] = negative
    return item(f"Compute {expression}.", exact(current), steps, params)


def simplify(rng: random.Random, max_denominator: int = 30, max_factor: int = 12) -> dict[str, Any]:
    """Reduce a fraction (a reduced one with denominator up to 2-100, scaled by up to 2-50)."""
    need_int("max_denominator", max_denominator, 2, 100)
    need_int("max_factor", max_factor, 2, 50)
    base = _fraction(rng, max_denominator, False)
    factor = rng.randint(2, max_factor)
    numerator, denominator = base.numerator * factor, base.denominator * factor
    g, steps = euclid(max(numerator, denominator), min(numerator, denominator))
    steps = [f"Find gcd({numerator}, {denominator}) with Euclid's algorithm:", *steps]
    steps.append(
        f"gcd = {g}; divide both by {g}: {numerator}/{denominator} = "
        f"{numerator // g}/{denominator // g}."
    )
    answer = exact(Fraction(numerator, denominator))
    question = f"Write {numerator}/{denominator} in lowest terms."
    return item(
        question, answer, steps, {"max_denominator": max_denominator, "max_factor": max_factor}
    )


GENERATORS = {"fractions.arithmetic": arithmetic, "fractions.simplify": simplify}
