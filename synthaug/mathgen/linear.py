"""Linear equations in one variable (AMPS-style, Hendrycks et al., 2021): ``a*x + b = c*x + d``
built around a chosen solution, solved by collecting terms and dividing, exactly."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import sympy

from .common import X, exact, item, need_bool, need_int, nonzero, sym


def _move(amount: sympy.Expr) -> str:
    """'Subtract 3*x from both sides' or 'Add 3*x to both sides' for removing ``amount``."""
    if sympy.sympify(amount).could_extract_minus_sign():
        return f"Add {-amount} to both sides"
    return f"Subtract {amount} from both sides"


def equation(
    rng: random.Random,
    max_coef: int = 10,
    max_solution: int = 10,
    both_sides: bool = True,
    fraction_solution: bool = False,
) -> dict[str, Any]:
    """Solve ``a*x + b = c*x + d``: coefficients up to ``max_coef`` (2-100), an integer solution up
    to ``max_solution`` (1-1000) unless ``fraction_solution``; ``both_sides`` puts x on the right."""
    need_int("max_coef", max_coef, 2, 100)
    need_int("max_solution", max_solution, 1, 1000)
    need_bool("both_sides", both_sides)
    need_bool("fraction_solution", fraction_solution)
    a = nonzero(rng, -max_coef, max_coef)
    c = nonzero(rng, -max_coef, max_coef) if both_sides else 0
    while c == a:
        c = nonzero(rng, -max_coef, max_coef)
    b = nonzero(rng, -max_coef * max_solution, max_coef * max_solution)
    if fraction_solution:
        d = rng.randint(-max_coef * max_solution, max_coef * max_solution)
        solution = Fraction(d - b, a - c)
    else:
        solution = Fraction(rng.randint(-max_solution, max_solution))
        d = int((a - c) * solution + b)
    left, right = a * X + b, c * X + d
    steps = []
    if c:
        steps.append(f"{_move(c * X)}: {(a - c) * X + b} = {d}.")
    steps.append(f"{_move(sympy.Integer(b))}: {(a - c) * X} = {d - b}.")
    value = sym(solution)
    steps.append(f"Divide both sides by {a - c}: x = {sym(Fraction(d - b, 1)) / (a - c)}.")
    steps.append(f"Check: {left.subs(X, value)} = {right.subs(X, value)}.")
    params = {
        "max_coef": max_coef,
        "max_solution": max_solution,
        "both_sides": both_sides,
        "fraction_solution": fraction_solution,
    }
    return item(f"Solve for x: {left} = {right}.", exact(solution), steps, params)


GENERATORS = {"linear.equation": equation}
