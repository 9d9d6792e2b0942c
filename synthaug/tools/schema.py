"""JSON Schema for tool parameters: built from Python annotations, and arguments checked
against it (``jsonschema``, Draft 2020-12).
"""

from __future__ import annotations

import ast
from typing import Any

from jsonschema import Draft202012Validator

_SCALARS = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
_ARRAYS = {"list", "List", "tuple", "Tuple", "set", "Set", "Sequence"}
_OBJECTS = {"dict", "Dict", "Mapping"}


def annotation_schema(node: ast.expr | None) -> dict[str, Any]:
    """The schema of an annotation (``list[int]`` -> an array of integers); ``{}`` (any value)
    when it names no JSON type."""
    if isinstance(node, ast.Name) and node.id in _SCALARS:
        return {"type": _SCALARS[node.id]}
    if isinstance(node, ast.Name) and node.id in _ARRAYS:
        return {"type": "array"}
    if isinstance(node, ast.Name) and node.id in _OBJECTS:
        return {"type": "object"}
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return {"anyOf": [annotation_schema(node.left), annotation_schema(node.right)]}
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name | ast.Attribute):
        outer = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
        inner = node.slice
        elements = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if outer in _ARRAYS:
            return {"type": "array", "items": annotation_schema(elements[0])}
        if outer in _OBJECTS:
            return {"type": "object"}
        if outer == "Optional":
            return {"anyOf": [annotation_schema(inner), {"type": "null"}]}
        if outer == "Union":
            return {"anyOf": [annotation_schema(e) for e in elements]}
        if outer == "Literal" and all(isinstance(e, ast.Constant) for e in elements):
            return {"enum": [e.value for e in elements]}  # type: ignore[attr-defined]
    return {}


def problems(value: Any, schema: dict[str, Any], where: str = "arguments") -> list[str]:
    """What is wrong with ``value`` under ``schema``, one line per fault naming where it is
    (``arguments.days: 'x' is not of type 'integer'``); empty when it is valid."""
    errors = Draft202012Validator(schema).iter_errors(value)
    return [
        "".join([where, *(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)])
        + f": {e.message}"
        for e in sorted(errors, key=lambda e: list(map(str, e.absolute_path)))
    ]
