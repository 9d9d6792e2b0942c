"""Systems of linear equations, 2x2 and 3x3 (AMPS-style, Hendrycks et al., 2021).

The system is built around a chosen integer solution with a non-singular integer matrix;
the solution text is Gaussian elimination with exact fractions, then back substitution.
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import sympy

from .common import exact, item, need_int, nonzero, sym

VARIABLES = sympy.symbols("x y z")


def _equation(row: list[Fraction], rhs: Fraction) -> str:
    variables = VARIABLES[: len(row)]
    left = sum((sym(c) * v for c, v in zip(row, variables, strict=True)), sympy.Integer(0))
    return f"{left} = {sym(rhs)}"


def _group(value: Fraction) -> str:
    """A number written so that it can sit next to an operator: (-3/4), (-2), 5."""
    return f"({exact(value)})" if value < 0 or value.denominator != 1 else exact(value)


def _matrix(rng: random.Random, size: int, max_coef: int) -> list[list[int]]:
    while True:
        rows = [[nonzero(rng, -max_coef, max_coef) for _ in range(size)] for _ in range(size)]
        if sympy.Matrix(rows).det() != 0:
            return rows


def eliminate(rows: list[list[Fraction]], rhs: list[Fraction]) -> tuple[list[Fraction], list[str]]:
    """Solve by Gaussian elimination; returns the solution and the steps (equations E1, E2, ...)."""
    size = len(rows)
    rows, rhs = [list(r) for r in rows], list(rhs)
    names = [f"E{i + 1}" for i in range(size)]
    steps = []
    made = size
    for col in range(size):
        pivot = next(r for r in range(col, size) if rows[r][col] != 0)
        if pivot != col:
            rows[col], rows[pivot] = rows[pivot], rows[col]
            rhs[col], rhs[pivot] = rhs[pivot], rhs[col]
            names[col], names[pivot] = names[pivot], names[col]
            steps.append(
                f"Swap the order so that {names[col]} has a non-zero {VARIABLES[col]} term."
            )
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            if factor == 0:
                continue
            rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
            rhs[r] = rhs[r] - factor * rhs[col]
            made += 1
            new = f"E{made}"
            steps.append(
                f"{names[r]} - ({exact(factor)}) * {names[col]} eliminates {VARIABLES[col]}: "
                f"{_equation(rows[r], rhs[r])}   ({new})"
            )
            names[r] = new
    values: list[Fraction] = [Fraction(0)] * size
    for r in range(size - 1, -1, -1):
        known = sum((rows[r][c] * values[c] for c in range(r + 1, size)), Fraction(0))
        values[r] = (rhs[r] - known) / rows[r][r]
        var = VARIABLES[r]
        if r == size - 1:
            steps.append(
                f"From {names[r]}: {var} = {_group(rhs[r])} / {_group(rows[r][r])} = "
                f"{exact(values[r])}."
            )
        else:
            substituted = ", ".join(
                f"{VARIABLES[c]} = {exact(values[c])}" for c in range(r + 1, size)
            )
            steps.append(
                f"Substitute {substituted} into {names[r]}: {sym(rows[r][r]) * var} = "
                f"{exact(rhs[r] - known)}, so {var} = {exact(values[r])}."
            )
    return values, steps


def linear(
    rng: random.Random, size: int = 2, max_coef: int = 6, max_solution: int = 6
) -> dict[str, Any]:
    """A ``size``x``size`` system (2-3) with coefficients up to ``max_coef`` (1-20) and an integer
    solution up to ``max_solution`` (1-50); the answer is the tuple ``(x, y[, z])``."""
    need_int("size", size, 2, 3)
    need_int("max_coef", max_coef, 1, 20)
    need_int("max_solution", max_solution, 1, 50)
    matrix = _matrix(rng, size, max_coef)
    solution = [rng.randint(-max_solution, max_solution) for _ in range(size)]
    rhs = [sum(a * s for a, s in zip(row, solution, strict=True)) for row in matrix]
    rows = [[Fraction(a) for a in row] for row in matrix]
    values, steps = eliminate(rows, [Fraction(b) for b in rhs])
    names = ", ".join(str(v) for v in VARIABLES[:size])
    lines = "\n".join(
        f"E{i + 1}: {_equation(r, Fraction(b))}"
        for i, (r, b) in enumerate(zip(rows, rhs, strict=True))
    )
    question = f"Solve the system of equations\n{lines}\nGive the solution as ({names})."
    answer = str(sympy.Tuple(*(sym(v) for v in values)))
    steps.append(f"So ({names}) = {answer}.")
    params = {"size": size, "max_coef": max_coef, "max_solution": max_solution}
    return item(question, answer, steps, params)


GENERATORS = {"systems.linear": linear}
