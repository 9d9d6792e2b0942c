"""Tools from an OpenAPI 3 document (JSON, or YAML): one function tool per operation,
implemented by the function of the same name in a Python file (as ``json_tools``).

- name: the operation's ``operationId``, else ``METHOD_path`` (``get_/pets/{id}`` ->
  ``get_pets_id``); any character that cannot stand in a Python name becomes ``_``;
- description: the ``summary``, else the ``description``;
- parameters: the path, query and header parameters (the path item's, overridden by the
  operation's of the same name and place; path parameters always required; cookies left
  out) and the object properties of a JSON request body (``required`` kept when the body
  is required), each parameter's ``schema`` with its ``description``; local ``$ref``\\ s
  (``#/components/...``) are resolved, others refused. A JSON body that is not an object
  becomes one parameter, ``body``.

Every problem is one ``InputError`` naming the file and what is wrong.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from .registry import Tool, _parse, _read

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PLACES = ("path", "query", "header")


def _load(path: str | Path) -> dict[str, Any]:
    text = _read(path)
    try:
        if Path(path).suffix.lower() in (".yaml", ".yml"):
            value = yaml.safe_load(text)
        else:
            value = json.loads(text)
    except (ValueError, yaml.YAMLError) as error:
        kind = "YAML" if Path(path).suffix.lower() in (".yaml", ".yml") else "JSON"
        raise InputError(str(path), f"not {kind}: {' '.join(str(error).split())[:200]}") from None
    version = str(value.get("openapi", "")) if isinstance(value, dict) else ""
    if not version.startswith("3."):
        raise InputError(str(path), "not an OpenAPI 3 document (no 'openapi: 3.x' field)")
    if not isinstance(value.get("paths"), dict) or not value["paths"]:
        raise InputError(str(path), "has no 'paths'")
    return value


class _Resolver:
    """Local ``$ref``\\ s replaced by what they point to (cycles refused)."""

    def __init__(self, document: dict[str, Any], path: str):
        self.document, self.path = document, path

    def __call__(self, value: Any, where: str, seen: tuple[str, ...] = ()) -> Any:
        if isinstance(value, list):
            return [self(item, where, seen) for item in value]
        if not isinstance(value, dict):
            return value
        ref = value.get("$ref")
        if ref is None:
            return {key: self(item, where, seen) for key, item in value.items()}
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise InputError(self.path, f"{where}: only local $refs (#/...) are supported: {ref!r}")
        if ref in seen:
            raise InputError(self.path, f"{where}: $ref {ref!r} refers to itself")
        target: Any = self.document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise InputError(self.path, f"{where}: $ref {ref!r} points to nothing")
            target = target[part]
        return self(copy.deepcopy(target), where, (*seen, ref))


def _name(method: str, route: str, operation: dict[str, Any]) -> str:
    name = str(operation.get("operationId") or f"{method} {route}")
    name = re.sub(r"\W+", "_", name).strip("_")
    return f"_{name}" if name[:1].isdigit() else name


def _operation_tool(
    spec: str, resolve: _Resolver, route: str, method: str, item: dict, operation: dict
) -> tuple[str, dict[str, Any], str]:
    name = _name(method, route, operation)
    where = f"{method.upper()} {route}"
    declared: dict[tuple[str, str], dict[str, Any]] = {}
    for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
        parameter = resolve(parameter, where)
        if not isinstance(parameter, dict) or not parameter.get("name") or "in" not in parameter:
            raise InputError(spec, f"{where}: a parameter without 'name' and 'in'")
        declared[(parameter["name"], parameter["in"])] = parameter
    properties: dict[str, Any] = {}
    required: list[str] = []

    def add(key: str, schema: dict[str, Any], needed: bool, description: str = "") -> None:
        if key in properties:
            raise InputError(spec, f"{where}: parameter {key!r} is given twice")
        if not key.isidentifier():
            raise InputError(spec, f"{where}: parameter {key!r} is no Python name (the "
                             f"function {name} is called with keyword arguments)")  # fmt: skip
        schema = dict(schema) if isinstance(schema, dict) else {}
        if description and "description" not in schema:
            schema["description"] = description
        properties[key] = schema
        if needed:
            required.append(key)

    for (key, place), parameter in declared.items():
        if place in PLACES:
            needed = place == "path" or bool(parameter.get("required"))
            add(key, parameter.get("schema", {}), needed, parameter.get("description", ""))
    body = resolve(operation.get("requestBody"), where)
    if isinstance(body, dict):
        schema = (body.get("content") or {}).get("application/json", {}).get("schema")
        if isinstance(schema, dict):
            if schema.get("type") == "object" or "properties" in schema:
                needed = set(schema.get("required", [])) if body.get("required") else set()
                for key, value in schema.get("properties", {}).items():
                    add(key, value, key in needed)
            else:
                add("body", schema, bool(body.get("required")), body.get("description", ""))
    parameters = {"type": "object", "properties": properties, "required": required}
    description = " ".join(str(operation.get("summary") or operation.get("description") or "")
                           .split())  # fmt: skip
    return name, parameters, description


def openapi_tools(spec_path: str | Path, implementation_path: str | Path) -> list[Tool]:
    """One tool per operation of an OpenAPI 3 document, implemented by the functions of the
    same name in a Python file."""
    spec = str(spec_path)
    document = _load(spec_path)
    resolve = _Resolver(document, spec)
    code = _read(implementation_path)
    module = _parse(code, implementation_path)
    defined = {n.name for n in module.body if isinstance(n, ast.FunctionDef)}
    tools: list[Tool] = []
    for route, item in document["paths"].items():
        if not isinstance(item, dict):
            raise InputError(spec, f"path {route!r} is not an object")
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            name, parameters, description = _operation_tool(
                spec, resolve, route, method, item, operation
            )
            if name not in defined:
                problem = f"defines no function {name!r} ({method.upper()} {route} of {spec})"
                raise InputError(str(implementation_path), problem)
            if any(tool.name == name for tool in tools):
                raise InputError(spec, f"two operations are named {name!r}")
            tools.append(Tool(name, description, parameters, code, str(implementation_path)))
    if not tools:
        raise InputError(spec, "has no operations")
    return tools
