"""JSON Schema for tool parameters: built from Python annotations, and arguments checked
against it.

``jsonschema`` is not a dependency, so ``problems`` checks the subset that tool schemas
(OpenAI ``tools`` format) use: ``type`` (one or a list), ``properties``, ``required``,
``additionalProperties``, ``items``, ``enum``, ``const``, ``anyOf``/``oneOf``,
``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems``/``maxItems``. Other
keywords are ignored (they constrain nothing here), never guessed at.
"""

from __future__ import annotations

import ast
from typing import Any

_SCALARS = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
_ARRAYS = {"list", "List", "tuple", "Tuple", "set", "Set", "Sequence"}
_OBJECTS = {"dict", "Dict", "Mapping"}
_TYPES: dict[str, Any] = {
    "integer": int, "number": (int, float), "string": str, "boolean": bool,
    "array": list, "object": dict, "null": type(None),
}  # fmt: skip


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


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(kind, object))


def problems(value: Any, schema: dict[str, Any], where: str = "arguments") -> list[str]:
    """What is wrong with ``value`` under ``schema`` (empty when it is valid)."""
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        listed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, kind) for kind in listed):
            return [f"{where}: expected {' or '.join(listed)}, got {_name(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} is not {schema['const']!r}")
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options and all(problems(value, option, where) for option in options):
            found.append(f"{where}: matches none of the allowed forms")
    if isinstance(value, dict):
        found += _object_problems(value, schema, where)
    if isinstance(value, list):
        found += _array_problems(value, schema, where)
    found += _bound_problems(value, schema, where)
    return found


def _object_problems(value: dict, schema: dict[str, Any], where: str) -> list[str]:
    found = [f"{where}: missing required '{name}'" for name in schema.get("required", [])
             if name not in value]  # fmt: skip
    properties = schema.get("properties", {})
    for name, item in value.items():
        if name in properties:
            found += problems(item, properties[name], f"{where}.{name}")
        elif schema.get("additionalProperties") is False:
            found.append(f"{where}: unexpected argument '{name}'")
    return found


def _array_problems(value: list, schema: dict[str, Any], where: str) -> list[str]:
    found = []
    if isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{index}]")
    if len(value) < schema.get("minItems", 0):
        found.append(f"{where}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        found.append(f"{where}: more than {schema['maxItems']} items")
    return found


def _bound_problems(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    found = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{where}: {value} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{where}: {value} is above {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{where}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{where}: longer than {schema['maxLength']} characters")
    return found


def _name(value: Any) -> str:
    for kind in ("boolean", "integer", "number", "string", "array", "object", "null"):
        if _is(value, kind):
            return kind
    return type(value).__name__
