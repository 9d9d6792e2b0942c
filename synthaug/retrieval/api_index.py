"""An index of a real code base's API: one entry per public function, class and method with
its qualified name, signature and docstring, searchable with BM25.

Sources (``ApiSource``):

- ``modules``: standard-library modules (default: ``DEFAULT_MODULES``), read with ``inspect``
  from the modules themselves, so that C modules (``itertools``) and names re-exported from
  private modules (``collections.OrderedDict``) are there;
- ``package``: an installed package, found with ``importlib.util.find_spec`` and read with
  ``ast`` from its ``*.py`` files: it is never imported into this process;
- ``path``: a folder or ``.py`` file of the user's code, read with ``ast`` likewise.

Public means: listed in the module's ``__all__`` when it has one, else not starting with ``_``
(and, for ``inspect``, defined by the module rather than imported into it).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import InputError
from .lexical import BM25Index

DEFAULT_MODULES = [
    "json", "pathlib", "itertools", "collections", "re", "datetime", "statistics", "textwrap",
]  # fmt: skip
DOC_CHARS = 300  # of each docstring's first paragraph, in prompts and the index
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # default values' reprs differ per process


@dataclass(frozen=True)
class ApiEntry:
    """One public function, class or method."""

    name: str  # qualified: ``json.dumps``, ``pathlib.Path.read_text``
    kind: str  # function, class or method
    signature: str
    doc: str  # the docstring's first paragraph, at most DOC_CHARS
    module: str
    path: str = ""  # source file (ast sources)
    line: int = 0

    def text(self) -> str:
        """What BM25 indexes: the name's parts, the signature and the doc."""
        words = self.name.replace(".", " ").replace("_", " ")
        return f"{self.name} {words} {self.signature} {self.doc}"

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        return {k: v for k, v in row.items() if k not in ("path", "line") or row["path"]}


class ApiSource(BaseModel):
    """Which code base to index: standard-library ``modules``, an installed ``package`` or a
    ``path``; at most one of ``package`` and ``path``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    modules: tuple[str, ...] = Field(
        tuple(DEFAULT_MODULES), description="standard-library modules to index"
    )
    package: str | None = Field(None, description="an installed package to index instead (ast)")
    path: str | None = Field(None, description="a folder or .py file to index instead (ast)")

    @model_validator(mode="after")
    def _one(self) -> ApiSource:
        if self.package and self.path:
            raise ValueError("give package or path, not both")
        unknown = [m for m in self.modules if m.split(".")[0] not in sys.stdlib_module_names]
        if not (self.package or self.path) and unknown:
            raise ValueError(f"not standard-library modules: {', '.join(unknown)}")
        if self.path and not Path(self.path).exists():
            raise ValueError(f"{self.path}: no such file or directory")
        return self

    def described(self) -> dict[str, Any]:
        """What is indexed, as a record field (and the arguments to rebuild it)."""
        if self.package or self.path:
            return {"package": self.package} if self.package else {"path": self.path}
        return {"modules": list(self.modules)}

    def name(self) -> str:
        return self.package or self.path or "stdlib:" + ",".join(self.modules)

    def allowed(self) -> list[str]:
        """Top-level modules besides the standard library that solutions may import."""
        if self.package:
            return [self.package.split(".")[0]]
        if self.path:
            root = Path(self.path)
            return [root.stem if root.is_file() or (root / "__init__.py").is_file() else ""]
        return []


def _first_paragraph(doc: str | None) -> str:
    text = (doc or "").strip().split("\n\n")[0]
    return " ".join(text.split())[:DOC_CHARS]


def _signature(value: Any) -> str:
    try:
        return _ADDRESS.sub("", str(inspect.signature(value)))
    except (TypeError, ValueError):
        return "(...)"


def _defined_in(value: Any, module: str) -> bool:
    owner = getattr(value, "__module__", None) or module
    return owner == module or owner.startswith(module + ".") or owner.lstrip("_") == module


def _kind(value: Any) -> str | None:
    if inspect.isclass(value):
        return "class"
    if inspect.ismodule(value) or not callable(value):
        return None
    return "function"


def _inspected(qualified: str, kind: str, value: Any, module: str) -> ApiEntry:
    doc = _first_paragraph(inspect.getdoc(value))
    return ApiEntry(qualified, kind, _signature(value), doc, module)


def module_entries(name: str) -> list[ApiEntry]:
    """The public API of standard-library module ``name``, read with ``inspect``."""
    module = importlib.import_module(name)
    listed = getattr(module, "__all__", None)
    names = list(listed) if listed else [n for n in dir(module) if not n.startswith("_")]
    entries = []
    for attribute in sorted(set(names)):
        value = getattr(module, attribute, None)
        kind = _kind(value)
        if kind is None or (not listed and not _defined_in(value, name)):
            continue
        qualified = f"{name}.{attribute}"
        entries.append(_inspected(qualified, kind, value, name))
        if kind == "class":
            for method, member in sorted(vars(value).items()):
                if isinstance(member, classmethod | staticmethod):
                    member = member.__func__
                if not method.startswith("_") and callable(member):
                    entries.append(_inspected(f"{qualified}.{method}", "method", member, name))
    return entries


def _public_names(tree: ast.Module) -> set[str] | None:
    """The literal ``__all__`` of a module, or None."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            try:
                return set(ast.literal_eval(node.value))
            except ValueError:
                return None
    return None


def _ast_signature(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        inits = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
        if not inits:
            return "()"
        return _ast_signature(inits[0]).replace("(self, ", "(").replace("(self)", "()")
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"({ast.unparse(node.args)}){returns}"


def _parsed(qualified: str, kind: str, node: Any, module: str, file: Path) -> ApiEntry:
    doc = _first_paragraph(ast.get_docstring(node))
    return ApiEntry(qualified, kind, _ast_signature(node), doc, module, str(file), node.lineno)


def file_entries(file: Path, module: str) -> list[ApiEntry]:
    """The public functions, classes and methods of one source file, read with ``ast``."""
    try:
        tree = ast.parse(file.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return []
    listed = _public_names(tree)
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    entries = []
    for node in tree.body:
        if not isinstance(node, defs) or node.name.startswith("_"):
            continue
        if listed is not None and node.name not in listed:
            continue
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        qualified = f"{module}.{node.name}"
        entries.append(_parsed(qualified, kind, node, module, file))
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, defs[:2]) and not member.name.startswith("_"):
                    name = f"{qualified}.{member.name}"
                    entries.append(_parsed(name, "method", member, module, file))
    return entries


def tree_entries(root: Path, package: str | None) -> list[ApiEntry]:
    """Every public API in the ``*.py`` files under ``root`` (a folder or a file); module names
    start with ``package`` (default: the folder's name when it holds ``__init__.py``)."""
    if root.is_file():
        return file_entries(root, package or root.stem)
    prefix = package or (root.name if (root / "__init__.py").is_file() else "")
    entries = []
    for file in sorted(root.rglob("*.py")):
        parts = list(file.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") or part in ("tests", "test") for part in parts):
            continue
        entries += file_entries(file, ".".join(p for p in (prefix, *parts) if p))
    return entries


def package_root(package: str) -> Path:
    """The source folder (or file) of installed ``package``, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not (spec.submodule_search_locations or spec.origin):
        raise InputError(package, "no such installed package")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(str(spec.origin))


@cache
def load_entries(source: ApiSource) -> tuple[ApiEntry, ...]:
    """The entries of ``source``; ``InputError`` when it holds none."""
    if source.package:
        entries = tree_entries(package_root(source.package), source.package)
        where = source.package
    elif source.path:
        root = Path(source.path)
        if not root.exists():
            raise InputError(root, "no such file or directory")
        entries, where = tree_entries(root, None), source.path
    else:
        entries, where = [e for m in source.modules for e in module_entries(m)], "modules"
    if not entries:
        raise InputError(where, "no public functions, classes or methods found")
    return tuple(entries)


class ApiIndex:
    """The entries of a source and BM25 over their texts."""

    def __init__(self, source: ApiSource):
        self.entries = load_entries(source)
        self.bm25 = BM25Index([entry.text() for entry in self.entries])

    def search(self, query: str, k: int) -> list[tuple[ApiEntry, float]]:
        return [(self.entries[h.index], h.score) for h in self.bm25.search([query], k)[0]]


@cache
def api_index(source: ApiSource) -> ApiIndex:
    """The index of ``source``, built once per process."""
    return ApiIndex(source)
