"""Calculus generators (AMPS-style, Hendrycks et al., 2021, whose Mathematica problems include
derivatives and integrals): differentiate or integrate a sum of terms, one rule per term, with
answers computed by sympy."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import sympy

from .common import X, exact, item, need_int, need_subset, nonzero

DERIVATIVE_KINDS = ("power", "trig", "exp", "log", "product", "chain")
INTEGRAL_KINDS = ("power", "trig", "exp", "reciprocal")
Term = tuple[sympy.Expr, str]  # the term and how its derivative / integral is found


def _power(rng: random.Random, c: int) -> sympy.Expr:
    return c * X ** rng.randint(2, 5)


def _trig(rng: random.Random, c: int) -> sympy.Expr:
    return c * rng.choice([sympy.sin, sympy.cos])(rng.randint(1, 4) * X)


def _exp(rng: random.Random, c: int) -> sympy.Expr:
    return c * sympy.exp(nonzero(rng, -3, 3) * X)


def _times(c: int) -> str:
    return "" if c == 1 else f", times {c}"


def derivative_term(rng: random.Random, kind: str, max_coef: int) -> Term:
    """A term of ``kind`` and the rule that differentiates it, with its intermediate result."""
    c = nonzero(rng, -max_coef, max_coef)
    if kind == "power":
        term = _power(rng, c)
        n = sympy.degree(term, X)
        return term, f"power rule: {c}*{n}*{X ** (n - 1)}"
    if kind in ("trig", "exp"):
        term = (_trig if kind == "trig" else _exp)(rng, c)
        inner = (term / c).simplify()
        return term, f"chain rule: d/dx {inner} = {sympy.diff(inner, X)}{_times(c)}"
    if kind == "log":
        k = rng.randint(1, 5)
        term = c * sympy.log(k * X)
        inner = f"{k}/({k * X}) = 1/x" if k != 1 else "1/x"
        return term, f"d/dx log({k * X}) = {inner}{_times(c)}"
    if kind == "product":
        u = c * X ** rng.randint(1, 3)
        v = rng.choice([sympy.sin(X), sympy.cos(X), sympy.exp(X), sympy.log(X)])
        return u * v, (
            f"product rule with u = {u}, v = {v}: u'*v + u*v' = "
            f"({sympy.diff(u, X)})*({v}) + ({u})*({sympy.diff(v, X)})"
        )
    a, b, n = rng.randint(2, 5), nonzero(rng, -5, 5), rng.randint(2, 5)
    inner = a * X + b
    return c * inner**n, (
        f"chain rule with u = {inner}: d/dx {c}*u**{n} = {c * n}*u**{n - 1} * u', u' = {a}"
    )


def _sum(
    rng: random.Random, terms: int, kinds: list[str], make: Callable[[str], Term]
) -> list[Term]:
    """``terms`` terms of distinct shapes (so that none merges with another in the sum)."""
    while True:
        chosen = [make(rng.choice(kinds)) for _ in range(terms)]
        total = sympy.Add(*(t for t, _ in chosen))
        if len(sympy.Add.make_args(total)) == terms:
            return chosen


def _in_order(parts: list[Term], total: sympy.Expr) -> list[Term]:
    """The terms in the order the sum prints them."""
    order = [str(t) for t in total.as_ordered_terms()]
    return sorted(parts, key=lambda part: order.index(str(part[0])))


def _termwise(
    rng: random.Random,
    terms: int,
    kinds: list[str] | None,
    known: tuple[str, ...],
    max_coef: int,
    make_term: Callable[[random.Random, str, int], Term],
) -> tuple[sympy.Expr, list[Term], dict[str, Any]]:
    """A checked sum of ``terms`` terms of ``kinds`` (default: all ``known``), its terms in
    printed order, and the item's params."""
    need_int("terms", terms, 1, 5)
    need_int("max_coef", max_coef, 1, 20)
    chosen = need_subset("kinds", list(kinds or known), known)
    parts = _sum(rng, terms, chosen, lambda kind: make_term(rng, kind, max_coef))
    f = sympy.Add(*(t for t, _ in parts))
    return f, _in_order(parts, f), {"terms": terms, "kinds": chosen, "max_coef": max_coef}


def derivative(
    rng: random.Random, terms: int = 2, kinds: list[str] | None = None, max_coef: int = 5
) -> dict[str, Any]:
    """Differentiate a sum of ``terms`` (1-5) terms of ``kinds`` (power, trig, exp, log, product,
    chain) with coefficients up to ``max_coef`` (1-20)."""
    f, parts, params = _termwise(rng, terms, kinds, DERIVATIVE_KINDS, max_coef, derivative_term)
    steps = ["Differentiate term by term (the derivative of a sum is the sum of the derivatives)."]
    steps += [f"d/dx [{term}] = {sympy.diff(term, X)}   ({rule})." for term, rule in parts]
    answer = sympy.diff(f, X)
    steps.append(f"Adding them: f'(x) = {answer}.")
    question = f"Find the derivative of f(x) = {f} with respect to x."
    return item(question, exact(answer), steps, params)


def integral_term(rng: random.Random, kind: str, max_coef: int) -> Term:
    """A term of ``kind`` and the rule that integrates it."""
    c = nonzero(rng, -max_coef, max_coef)
    if kind == "power":
        n = rng.randint(0, 5)
        return c * X**n, f"power rule, x**n integrates to x**(n + 1)/(n + 1), n = {n}"
    if kind in ("trig", "exp"):
        term = (_trig if kind == "trig" else _exp)(rng, c)
        inner = (term / c).simplify()
        return term, f"{inner} integrates to {sympy.integrate(inner, X)}{_times(c)}"
    return c / X, f"1/x integrates to log(x) for x > 0{_times(c)}"


def integral(
    rng: random.Random, terms: int = 2, kinds: list[str] | None = None, max_coef: int = 6
) -> dict[str, Any]:
    """An antiderivative of a sum of ``terms`` (1-5) terms of ``kinds`` (power, trig, exp,
    reciprocal) with coefficients up to ``max_coef`` (1-20); the answer omits the constant."""
    f, parts, params = _termwise(rng, terms, kinds, INTEGRAL_KINDS, max_coef, integral_term)
    steps = ["Integrate term by term."]
    steps += [f"The integral of {t} is {sympy.integrate(t, X)}   ({rule})." for t, rule in parts]
    answer = sympy.integrate(f, X)
    steps.append(f"So F(x) = {answer} + C; differentiating F gives back {f}.")
    question = f"Find an antiderivative F(x) of f(x) = {f} (leave out the constant of integration)."
    return item(question, exact(answer), steps, params)


def definite_integral(
    rng: random.Random, degree: int = 3, max_coef: int = 6, max_bound: int = 4
) -> dict[str, Any]:
    """The integral of a polynomial of ``degree`` (1-6) with coefficients up to ``max_coef``
    (1-20) between integer bounds up to ``max_bound`` (1-10), by the fundamental theorem."""
    need_int("degree", degree, 1, 6)
    need_int("max_coef", max_coef, 1, 20)
    need_int("max_bound", max_bound, 1, 10)
    coefficients = [rng.randint(-max_coef, max_coef) for _ in range(degree)]
    f = nonzero(rng, -max_coef, max_coef) * X**degree + sum(
        c * X**n for n, c in enumerate(coefficients)
    )
    low = rng.randint(-max_bound, max_bound - 1)
    high = rng.randint(low + 1, max_bound)
    F = sympy.integrate(f, X)
    upper, lower = F.subs(X, high), F.subs(X, low)
    value = upper - lower
    steps = [
        f"An antiderivative (power rule term by term) is F(x) = {F}.",
        f"F({high}) = {upper}.",
        f"F({low}) = {lower}.",
        f"By the fundamental theorem of calculus the integral is F({high}) - F({low}) = "
        f"{upper} - ({lower}) = {value}.",
    ]
    question = f"Evaluate the definite integral of f(x) = {f} from x = {low} to x = {high}."
    params = {"degree": degree, "max_coef": max_coef, "max_bound": max_bound}
    return item(question, exact(value), steps, params)


GENERATORS = {
    "calculus.derivative": derivative,
    "calculus.integral": integral,
    "calculus.definite_integral": definite_integral,
}
