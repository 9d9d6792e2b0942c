"""Exact arithmetic (sympy): the built-in ``calculate`` tool. Runs in the sandbox only."""

import sympy
from sympy.parsing.sympy_parser import parse_expr, standard_transformations

PARSER_NAMES = {name: getattr(sympy, name) for name in (
    "Integer", "Float", "Rational", "Symbol", "Function",
)}  # fmt: skip
ALLOWED = {name: getattr(sympy, name) for name in (
    "sqrt", "Rational", "pi", "E", "factorial", "binomial", "gcd", "lcm", "Abs", "floor",
    "ceiling", "log", "exp", "sin", "cos", "tan",
)}  # fmt: skip


def calculate(expression: str) -> dict:
    """Evaluate an arithmetic expression exactly, e.g. "3/4 + 2**10" or "sqrt(50)".

    Args:
        expression: the arithmetic expression; +, -, *, /, ** and functions such as sqrt,
            factorial, gcd, log
    """
    if len(expression) > 200:
        raise ValueError("expression longer than 200 characters")
    value = parse_expr(
        expression.replace("^", "**"), local_dict=ALLOWED, global_dict={"__builtins__": {}, **PARSER_NAMES},
        transformations=standard_transformations, evaluate=True,
    )  # fmt: skip
    if not getattr(value, "is_number", False):
        raise ValueError(f"not a number: {str(value)[:80]}")
    if not value.is_finite:
        raise ValueError(f"not a finite number: {value}")
    value = sympy.nsimplify(value) if value.is_Float else sympy.simplify(value)
    exact = str(value)
    return {"exact": exact, "decimal": str(sympy.N(value, 15)) if not value.is_Integer else exact}
