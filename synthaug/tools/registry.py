"""Tools: an OpenAI ``tools`` schema and the Python source that implements it.

A tool's implementation is never imported here: its file is read as text, its schema built
from the source with ``ast`` (a function's type hints and docstring), and the code runs only
in the sandbox (``execute.py``). Sources of tools:

- the built-ins (``builtin/``): ``calculate`` (exact arithmetic, sympy), ``add_to_date``,
  ``days_between``, ``day_of_week`` (calendar), ``convert_units``;
- a Python file: every public top-level function with type hints and a docstring (the
  first paragraph describes the tool; an ``Args:`` section describes the parameters);
- a JSON file of OpenAI-format tool schemas (a list, or ``{"tools": [...]}``) and the
  Python file that implements them (a function of the same name for each).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .schema import annotation_schema

BUILTIN = Path(__file__).with_name("builtin")
BUILTIN_FILES = ("calculator.py", "dates.py", "units.py")
_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\(.*?\))?:\s*(.*)$")


@dataclass(frozen=True)
class Tool:
    """One function a model may call: its schema and the module source that defines it."""

    name: str
    description: str
    parameters: dict[str, Any]
    code: str  # the module's source; ``name`` is one of its functions
    origin: str

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def implementation(self) -> dict[str, str]:
        """What a verdict stores to re-run a call without the registry."""
        return {"code": self.code, "origin": self.origin}


def builtin_tools() -> list[Tool]:
    """The built-in tools, in a fixed order."""
    return [tool for name in BUILTIN_FILES for tool in python_tools(BUILTIN / name)]


def python_tools(path: str | Path) -> list[Tool]:
    """The tools a Python file defines: public top-level functions with a docstring."""
    source = _read(path)
    module = _parse(source, path)
    tools = [
        _function_tool(node, source, str(path))
        for node in module.body
        if isinstance(node, ast.FunctionDef)
        and not node.name.startswith("_")
        and ast.get_docstring(node)
    ]
    if not tools:
        raise InputError(str(path), "defines no public function with a docstring")
    return tools


def _function_tool(node: ast.FunctionDef, source: str, origin: str) -> Tool:
    doc = ast.get_docstring(node) or ""
    described = _argument_docs(doc)
    arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
    defaults = [None] * (len(node.args.posonlyargs + node.args.args) - len(node.args.defaults))
    defaults += [*node.args.defaults, *node.args.kw_defaults]
    properties, required = {}, []
    for argument, default in zip(arguments, defaults, strict=True):
        schema = annotation_schema(argument.annotation)
        if argument.arg in described:
            schema["description"] = described[argument.arg]
        properties[argument.arg] = schema
        if default is None:
            required.append(argument.arg)
    parameters = {"type": "object", "properties": properties, "required": required}
    summary = " ".join(doc.split("\n\n")[0].split())
    return Tool(node.name, summary, parameters, source, origin)


def _argument_docs(doc: str) -> dict[str, str]:
    """``name -> description`` from a Google-style ``Args:`` section (continuation lines
    joined)."""
    described: dict[str, str] = {}
    lines = doc.split("\n")
    start = next(
        (i for i, line in enumerate(lines) if line.strip() in ("Args:", "Arguments:")), None
    )
    if start is None:
        return described
    current = None
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        match = _ARG_LINE.match(line)
        if match and len(line) - len(line.lstrip()) <= 4:
            current = match.group(1)
            described[current] = match.group(2).strip()
        elif current:
            described[current] += " " + line.strip()
    return described


def json_tools(schemas_path: str | Path, implementation_path: str | Path) -> list[Tool]:
    """OpenAI-format tool schemas from a JSON file, implemented by the functions of the same
    name in a Python file."""
    try:
        value = json.loads(_read(schemas_path))
    except ValueError as error:
        raise InputError(str(schemas_path), f"not JSON: {error}") from None
    listed = value.get("tools") if isinstance(value, dict) else value
    if not isinstance(listed, list) or not listed:
        raise InputError(str(schemas_path), 'expected a list of tools or {"tools": [...]}')
    code = _read(implementation_path)
    defined = {
        n.name for n in _parse(code, implementation_path).body if isinstance(n, ast.FunctionDef)
    }
    tools = []
    for number, entry in enumerate(listed, 1):
        function = entry.get("function", entry) if isinstance(entry, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InputError(str(schemas_path), f"tool {number} has no function name")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            raise InputError(
                str(schemas_path), f"tool {number}: parameters must be an object schema"
            )
        if function["name"] not in defined:
            problem = f"defines no function {function['name']!r} (tool {number} of {schemas_path})"
            raise InputError(str(implementation_path), problem)
        tools.append(Tool(function["name"], str(function.get("description", "")), parameters,
                          code, str(implementation_path)))  # fmt: skip
    return tools


def _parse(source: str, path: str | Path) -> ast.Module:
    try:
        return ast.parse(source, filename=str(path))
    except SyntaxError as error:
        raise InputError(str(path), f"not Python: {error.msg}", line=error.lineno) from None


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(str(path), f"cannot read: {error}") from None


def load_tools(
    names: list[str] | None = None,
    python_files: list[str] = (),  # type: ignore[assignment]
    json_files: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> list[Tool]:
    """The built-ins named (all when ``names`` is None), then the tools of each Python file and
    each (schemas, implementation) pair; names must be unique."""
    builtins = {tool.name: tool for tool in builtin_tools()}
    chosen = list(builtins) if names is None else names
    unknown = [name for name in chosen if name not in builtins]
    if unknown:
        raise InputError("tools", f"unknown built-in tool {unknown[0]!r}; built-ins: "
                         f"{', '.join(builtins)}")  # fmt: skip
    tools = [builtins[name] for name in chosen]
    for path in python_files:
        tools += python_tools(path)
    for schemas, implementation in json_files:
        tools += json_tools(schemas, implementation)
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen:
            raise InputError(tool.origin, f"tool name {tool.name!r} is defined twice")
        seen.add(tool.name)
    return tools
