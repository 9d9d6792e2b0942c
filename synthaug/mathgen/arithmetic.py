"""Arithmetic generators (AMPS-style, Hendrycks et al., 2021, "Measuring Mathematical Problem
Solving With the MATH Dataset"): order of operations, gcd and lcm by Euclid's algorithm.

Expressions are random trees evaluated exactly with ``Fraction``; the solution reduces one
innermost operation at a time and rewrites the whole expression after each step.
"""

from __future__ import annotations

import operator
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .common import euclid, exact, item, need_int, need_subset

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass
class Node:
    """A leaf (``value``) or an operation ``left op right``."""

    value: Fraction | None = None
    op: str | None = None
    left: Node | None = None
    right: Node | None = None

    def evaluate(self) -> Fraction:
        if self.op is None:
            return self.value  # type: ignore[return-value]
        return OPS[self.op](self.left.evaluate(), self.right.evaluate())  # type: ignore[union-attr]


def random_tree(rng: random.Random, terms: int, max_value: int, ops: list[str]) -> Node:
    """A random expression with ``terms`` leaves in ``1..max_value``; never divides by zero."""
    if terms == 1:
        return Node(value=Fraction(rng.randint(1, max_value)))
    split = rng.randint(1, terms - 1)
    left = random_tree(rng, split, max_value, ops)
    right = random_tree(rng, terms - split, max_value, ops)
    op = rng.choice(ops)
    if op == "/" and right.evaluate() == 0:
        op = "*"
    return Node(op=op, left=left, right=right)


def show(node: Node) -> str:
    """The expression with only the parentheses that precedence needs (sympy-parsable)."""
    if node.op is None:
        return exact(node.value)  # type: ignore[arg-type]

    def part(child: Node, right: bool) -> str:
        text = show(child)
        if child.op is None:
            value = child.value
            needs = value < 0 or value.denominator != 1  # type: ignore[operator, union-attr]
        else:
            lower = PRECEDENCE[child.op] < PRECEDENCE[node.op]  # type: ignore[index]
            same = PRECEDENCE[child.op] == PRECEDENCE[node.op]  # type: ignore[index]
            needs = lower or (right and same and node.op in "-/")
        return f"({text})" if needs else text

    return f"{part(node.left, False)} {node.op} {part(node.right, True)}"  # type: ignore[arg-type]


def reduce_once(node: Node) -> tuple[Node, str] | None:
    """Evaluate the leftmost operation whose operands are numbers; returns the new tree and the
    step, or None for a number."""
    if node.op is None:
        return None
    left, right = node.left, node.right
    if left.op is None and right.op is None:  # type: ignore[union-attr]
        value = node.evaluate()
        return Node(value=value), f"{show(node)} = {exact(value)}"
    for side in ("left", "right"):
        reduced = reduce_once(getattr(node, side))
        if reduced is not None:
            child, step = reduced
            new = Node(op=node.op, left=node.left, right=node.right)
            setattr(new, side, child)
            return new, step
    return None  # pragma: no cover - a tree with an operation always reduces


def mixed(
    rng: random.Random, terms: int = 4, max_value: int = 20, ops: str | list[str] = "+-*"
) -> dict[str, Any]:
    """Evaluate an expression of ``terms`` integers (2-8) with ``ops`` from ``+-*/``."""
    need_int("terms", terms, 2, 8)
    need_int("max_value", max_value, 2, 1000)
    chosen = need_subset("ops", ops, list(OPS))
    tree = random_tree(rng, terms, max_value, chosen)
    question = f"Evaluate {show(tree)}."
    steps = []
    while (reduced := reduce_once(tree)) is not None:
        tree, step = reduced
        steps.append(
            step + ("" if tree.op is None else f", so the expression becomes {show(tree)}.")
        )
    steps[-1] += "."
    answer = exact(tree.evaluate())
    return item(
        question, answer, steps, {"terms": terms, "max_value": max_value, "ops": "".join(chosen)}
    )


def _pair(rng: random.Random, max_value: int) -> tuple[int, int]:
    """Two distinct numbers up to ``max_value`` that share a factor more often than chance."""
    factor = rng.randint(2, max(2, max_value // 6))
    top = max(2, max_value // factor)
    a, b = factor * rng.randint(1, top), factor * rng.randint(1, top)
    while a == b:
        b = factor * rng.randint(1, top)
    return max(a, b), min(a, b)


def gcd(rng: random.Random, max_value: int = 200) -> dict[str, Any]:
    """The greatest common divisor of two numbers up to ``max_value`` (12-100000), by Euclid."""
    need_int("max_value", max_value, 12, 100_000)
    a, b = _pair(rng, max_value)
    g, steps = euclid(a, b)
    steps = ["Use Euclid's algorithm: divide and keep the remainder.", *steps]
    steps.append(f"The last non-zero remainder is {g}, so gcd({a}, {b}) = {g}.")
    question = f"What is the greatest common divisor of {a} and {b}?"
    return item(question, str(g), steps, {"max_value": max_value})


def lcm(rng: random.Random, max_value: int = 60) -> dict[str, Any]:
    """The least common multiple of two numbers up to ``max_value`` (12-10000), via the gcd."""
    need_int("max_value", max_value, 12, 10_000)
    a, b = _pair(rng, max_value)
    g, steps = euclid(a, b)
    value = a * b // g
    steps = [
        "First find the gcd with Euclid's algorithm.",
        *steps,
        f"So gcd({a}, {b}) = {g}.",
        f"lcm({a}, {b}) = {a} * {b} / {g} = {a * b} / {g} = {value}.",
    ]
    question = f"What is the least common multiple of {a} and {b}?"
    return item(question, str(value), steps, {"max_value": max_value})


GENERATORS = {"arithmetic.mixed": mixed, "arithmetic.gcd": gcd, "arithmetic.lcm": lcm}
