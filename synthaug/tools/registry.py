"""Tools: an OpenAI ``tools`` schema and the Python source that implements it.

A tool's implementation is never imported here: its file is read as text, its schema built
from the source with ``ast`` (a function's type hints and docstring), and the code runs only
in the sandbox (``execute.py``). Sources of tools:

- the built-ins (``builtin/``): ``calculate`` (exact arithmetic, sympy), ``add_to_date``,
  ``days_between``, ``day_of_week`` (calendar), ``convert_units``; and the search tools given
  read-only data (``data.py``): ``lookup`` (the shipped encyclopedia text, or another) and
  ``search_documents`` (BM25 over the chunks of ``synthaug ingest``, when a corpus is given);
- a Python file: every public top-level function with type hints and a docstring (the
  first paragraph describes the tool; an ``Args:`` section describes the parameters);
- a JSON file of OpenAI-format tool schemas (a list, or ``{"tools": [...]}``) and the
  Python file that implements them (a function of the same name for each).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from .data import DataFile, data_file
from .schema import annotation_schema

BUILTIN = Path(__file__).with_name("builtin")
BUILTIN_FILES = ("calculator.py", "dates.py", "units.py")
ENCYCLOPEDIA = "synthaug:encyclopedia.jsonl"  # Wikipedia leads, CC BY-SA (data/LICENSES.md)
DATA_TOOLS = ("search_documents", "lookup")
_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\(.*?\))?:\s*(.*)$")


@dataclass(frozen=True)
class Tool:
    """One function a model may call: its schema and the module source that defines it."""

    name: str
    description: str
    parameters: dict[str, Any]
    code: str  # the module's source; ``name`` is one of its functions
    origin: str
    data: tuple[DataFile, ...] = ()  # read-only files the code reads in ``$SYNTHAUG_DATA``
    host: bool = False  # run in synthaug's process by a host runner (``host.py``), no code

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

    def implementation(self) -> dict[str, Any]:
        """What a verdict stores to re-run a call without the registry: the code, and each
        data file's source and content hash (``data.py``); for a host tool, its name."""
        if self.host:
            return {"host": self.name, "origin": self.origin}
        stored: dict[str, Any] = {"code": self.code, "origin": self.origin}
        if self.data:
            stored["data"] = [file.spec() for file in self.data]
        return stored


def builtin_tools() -> list[Tool]:
    """The built-in tools that need no data, in a fixed order."""
    return [tool for name in BUILTIN_FILES for tool in python_tools(BUILTIN / name)]


def data_tools(corpus: str | Path | None = None, encyclopedia: str | Path = ENCYCLOPEDIA):
    """The built-in search tools: ``lookup`` over ``encyclopedia`` (JSONL rows ``{"title",
    "text", "url"}``; default: the shipped one) and, when ``corpus`` (a chunks file of
    ``synthaug ingest``) is given, ``search_documents`` over it."""
    tools = {tool.name: tool for tool in python_tools(BUILTIN / "search.py")}
    chosen = [replace(tools["lookup"], data=(data_file("encyclopedia.jsonl", encyclopedia),))]
    if corpus is not None:
        files = (data_file("corpus.jsonl", corpus, "chunks"),)
        chosen.insert(0, replace(tools["search_documents"], data=files))
    return chosen


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
    corpus: str | Path | None = None,
    encyclopedia: str | Path | None = None,
    openapi_files: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> list[Tool]:
    """The built-ins named, then the tools of each Python file, each (schemas,
    implementation) pair and each (OpenAPI document, implementation) pair; names must be
    unique. ``names`` None: the built-ins that need no
    data, and ``search_documents`` when a ``corpus`` is given; ``lookup`` is there when
    named (over ``encyclopedia``, default the shipped one), and so is ``translate`` (the
    model, a host tool: its calls run through the step's backend, ``host.py``)."""
    from .host import HOST_TOOLS  # it builds on this module

    builtins = {tool.name: tool for tool in builtin_tools()} | HOST_TOOLS
    known = [*builtins, *DATA_TOOLS]
    plain = [name for name in builtins if name not in HOST_TOOLS]
    chosen = [*plain, *(["search_documents"] if corpus else [])] if names is None else names
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise InputError("tools", f"unknown built-in tool {unknown[0]!r}; built-ins: "
                         f"{', '.join(known)}")  # fmt: skip
    if "search_documents" in chosen and corpus is None:
        raise InputError("tools", "search_documents needs a corpus: the chunks file of "
                         "`synthaug ingest` (corpus=PATH)")  # fmt: skip
    if set(DATA_TOOLS) & set(chosen):
        builtins |= {t.name: t for t in data_tools(corpus, encyclopedia or ENCYCLOPEDIA)}
    tools = [builtins[name] for name in chosen]
    for path in python_files:
        tools += python_tools(path)
    for schemas, implementation in json_files:
        tools += json_tools(schemas, implementation)
    if openapi_files:
        from .openapi import openapi_tools  # it builds on this module

        for document, implementation in openapi_files:
            tools += openapi_tools(document, implementation)
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen:
            raise InputError(tool.origin, f"tool name {tool.name!r} is defined twice")
        seen.add(tool.name)
    return tools
