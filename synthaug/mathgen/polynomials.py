"""Polynomial generators (AMPS-style, Hendrycks et al., 2021): expand products of binomials,
factor by the rational root theorem and synthetic division, and roots of quadratics by the
quadratic formula. Exact arithmetic with sympy; answers are sympy ``str`` forms."""

from __future__ import annotations

import random
from typing import Any

import sympy

from .common import X, item, need_bool, need_int, nonzero


def expand(rng: random.Random, factors: int = 2, max_coef: int = 5) -> dict[str, Any]:
    """Expand a product of ``factors`` (2-4) binomials ``a*x + b``, coefficients up to
    ``max_coef`` (1-20), distributing one factor at a time."""
    need_int("factors", factors, 2, 4)
    need_int("max_coef", max_coef, 1, 20)
    parts = [
        rng.randint(1, max(1, max_coef // 2)) * X + nonzero(rng, -max_coef, max_coef)
        for _ in range(factors)
    ]
    product = " * ".join(f"({p})" for p in parts)
    steps = []
    current = parts[0]
    for part in parts[1:]:
        pieces = [sympy.expand(term * part) for term in sympy.Add.make_args(current)]
        terms = " + ".join(f"({term})*({part})" for term in sympy.Add.make_args(current))
        summed = " + ".join(f"({p})" for p in pieces)
        current = sympy.expand(current * part)
        steps.append(f"Distribute: {terms} = {summed} = {current}.")
    answer = str(current)
    return item(f"Expand {product}.", answer, steps, {"factors": factors, "max_coef": max_coef})


def _divisors(n: int) -> list[int]:
    """Candidate integer roots: the divisors of ``n`` with both signs, smallest first."""
    n = abs(n)
    found = [d for d in range(1, n + 1) if n % d == 0]
    return [s * d for d in found for s in (1, -1)]


def _root(p: sympy.Poly, steps: list[str]) -> int:
    """An integer root of the monic ``p`` (which has one), found by the rational root theorem."""
    constant = int(p.eval(0))
    if constant == 0:
        steps.append(f"The constant term of {p.as_expr()} is 0, so x is a factor.")
        return 0
    tried = []
    for candidate in _divisors(constant):
        value = p.eval(candidate)
        tried.append(f"p({candidate}) = {value}")
        if value == 0:
            steps.append(
                f"Integer roots of p(x) = {p.as_expr()} divide {constant}; try them: "
                f"{', '.join(tried)}. So ({X - candidate}) is a factor."
            )
            return candidate
    raise AssertionError("a polynomial built from integer roots has one")  # pragma: no cover


def factor(
    rng: random.Random, degree: int = 2, max_root: int = 6, max_leading: int = 1
) -> dict[str, Any]:
    """Factor a polynomial of ``degree`` (2-4) with integer roots up to ``max_root`` (1-20) and a
    leading coefficient up to ``max_leading`` (1-9), by testing candidate roots."""
    need_int("degree", degree, 2, 4)
    need_int("max_root", max_root, 1, 20)
    need_int("max_leading", max_leading, 1, 9)
    leading = rng.randint(1, max_leading)
    roots = [0] * degree
    while not any(roots):  # x**n is no exercise
        roots = [rng.randint(-max_root, max_root) for _ in range(degree)]
    poly = sympy.expand(leading * sympy.Mul(*(X - r for r in roots)))
    steps = []
    monic = sympy.expand(poly / leading)
    if leading != 1:
        steps.append(f"Take out the common factor {leading}: {poly} = {leading}*({monic}).")
    remaining = sympy.Poly(monic, X)
    while remaining.degree() > 1:
        root = _root(remaining, steps)
        quotient, _ = sympy.div(remaining, sympy.Poly(X - root, X))
        steps.append(f"Dividing by {X - root} leaves {quotient.as_expr()}.")
        remaining = quotient
    steps.append(f"The last factor is {remaining.as_expr()}.")
    answer = str(sympy.factor(poly))
    steps.append(f"Collecting the factors: {poly} = {answer}.")
    params = {"degree": degree, "max_root": max_root, "max_leading": max_leading}
    return item(f"Factor {poly}.", answer, steps, params)


def _group(n: int) -> str:
    return f"({n})" if n < 0 else str(n)


def roots(rng: random.Random, max_coef: int = 9, integer_roots: bool = False) -> dict[str, Any]:
    """The real roots of a quadratic with coefficients up to ``max_coef`` (2-50), by the quadratic
    formula; ``integer_roots`` builds it from integer roots. The answer lists them increasing."""
    need_int("max_coef", max_coef, 2, 50)
    need_bool("integer_roots", integer_roots)
    while True:
        if integer_roots:
            r, s = rng.randint(-max_coef, max_coef), rng.randint(-max_coef, max_coef)
            a = rng.randint(1, 2)
            a, b, c = a, -a * (r + s), a * r * s
        else:
            a = nonzero(rng, -max_coef, max_coef)
            b, c = rng.randint(-max_coef, max_coef), rng.randint(-max_coef, max_coef)
        if b * b - 4 * a * c >= 0:
            break
    poly = a * X**2 + b * X + c
    disc = b * b - 4 * a * c
    root_d = sympy.sqrt(disc)
    solutions = sorted(set(sympy.solve(sympy.Eq(poly, 0), X)), key=lambda v: float(v))
    steps = [
        f"For a*x**2 + b*x + c = 0 here a = {a}, b = {b}, c = {c}.",
        f"The discriminant is b**2 - 4*a*c = {b * b} - ({4 * a * c}) = {disc}.",
    ]
    if disc == 0:
        steps.append(
            f"It is 0, so there is one (double) root x = -b/(2*a) = {-b}/{_group(2 * a)} = "
            f"{solutions[0]}."
        )
    else:
        steps.append(f"sqrt({disc}) = {root_d}, so x = ({-b} ± {root_d})/{_group(2 * a)}.")
        steps.append(f"In increasing order: {', '.join(str(v) for v in solutions)}.")
    answer = str(solutions)
    question = f"Find all real roots of {poly} = 0, in increasing order."
    return item(question, answer, steps, {"max_coef": max_coef, "integer_roots": integer_roots})


GENERATORS = {
    "polynomials.expand": expand,
    "polynomials.factor": factor,
    "polynomials.roots": roots,
}
