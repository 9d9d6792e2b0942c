"""What the code methods share: reading code folders, finding functions."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import InputError

BUILTIN_SEEDS = "code_seeds"  # 40 functions and classes from boltons (BSD-3-Clause)


def builtin_seed_dir() -> Path:
    return Path(str(resources.files("synthaug") / "data" / BUILTIN_SEEDS))


def read_code_documents(path: str | None) -> list[tuple[str, str]]:
    """``(name, text)`` of every ``*.py`` file under ``path`` (a folder, searched recursively, or
    one file), sorted by relative path; default: the built-in seed snippets."""
    root = Path(path) if path is not None else builtin_seed_dir()
    if not root.exists():
        raise InputError(root, "no such file or directory")
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    documents = []
    for file in files:
        if not file.is_file():
            continue
        name = file.relative_to(root).as_posix() if root.is_dir() else file.name
        documents.append((name, file.read_text(encoding="utf-8", errors="replace")))
    if not documents:
        raise InputError(root, "no Python (*.py) files found")
    return documents


@dataclass
class Function:
    """A top-level function: its name, the source to run it (imports + definition), its
    argument names and their annotations (as source text)."""

    name: str
    code: str
    args: list[str]
    annotations: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def as_row(self) -> dict[str, Any]:
        return {
            "func_name": self.name,
            "code": self.code,
            "func_args": self.args,
            "func_annotations": self.annotations,
            "func_source": self.source,
        }


def _arguments(node: ast.FunctionDef) -> tuple[list[str], dict[str, str]] | None:
    """Names (and annotations) of the arguments callable by keyword; None for functions that
    cannot be called as ``f(**inputs)``: positional-only or no named arguments."""
    args = node.args
    if args.posonlyargs:
        return None
    named = [*args.args, *args.kwonlyargs]
    if not named:
        return None
    annotations = {a.arg: ast.unparse(a.annotation) for a in named if a.annotation is not None}
    return [a.arg for a in named], annotations


def collect_functions(text: str, source: str = "") -> list[Function]:
    """Top-level functions of a module, each with the module's imports above it.

    Async functions, functions with positional-only arguments or no arguments, and modules
    that do not parse are skipped.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    lines = text.splitlines()
    imports = [
        ast.get_source_segment(text, node)
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    header = "\n".join(line for line in imports if line)
    functions = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        arguments = _arguments(node)
        if arguments is None:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        definition = "\n".join(lines[first - 1 : node.end_lineno])
        code = f"{header}\n\n\n{definition}\n" if header else f"{definition}\n"
        functions.append(Function(node.name, code, *arguments, source=source))
    return functions


def function_arguments(code: str, name: str) -> tuple[list[str], dict[str, str]] | None:
    """The arguments of the top-level function ``name`` in ``code`` (see ``collect_functions``)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return _arguments(node)
    return None
