"""The "no hallucinated API" check: every module a program imports and every attribute chain
it reads off an imported name must exist.

References are collected statically here (``collect_references``, with ``ast``; the program is
never run) and resolved inside the sandbox (``resolve_references``): a fixed resolver script
imports each reference's top-level module, only when it is in the standard library or in the
``allowed`` list, and walks the attribute chain (importing submodules on the way). What counts:

- ``import json`` -> ``json``; ``import os.path`` -> ``os.path``; ``import numpy as np`` binds
  ``np`` to ``numpy``; ``from pathlib import Path`` -> ``pathlib.Path`` (``Path`` bound to it);
  ``from x import *`` -> ``x``; a relative import cannot be resolved in a standalone program;
- every maximal attribute chain read off a bound name: ``json.dumps``, ``Path.read_text``,
  ``os.path.join``; chains stop at calls and subscripts (``Path(p).read_text`` gives
  ``pathlib.Path`` only: what an instance holds is not known statically);
- a name the program also binds otherwise (assignment, argument, ``def``, loop variable, ...)
  is not followed; imports directly guarded by ``try: ... except ImportError`` are optional:
  neither they nor their names are checked.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from .evidence import verdict
from .sandbox import ExecResult, Sandbox

KIND = "api_exists"
_OPTIONAL = {"ImportError", "ModuleNotFoundError"}
_NAMED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs,
          ast.MatchStar)  # fmt: skip

# Runs in the sandbox: stdin {"references": [{name, module}], "allowed"} -> stdout
# [{"resolved", "reason"?}] per reference; ``module`` (a prefix of ``name``) must import as a
# module (``import a.b`` needs the module ``a.b``), the rest resolve as attributes or submodules.
RESOLVER = r"""
import contextlib, importlib, io, json, sys, types

request = json.loads(sys.stdin.read())
allowed = set(sys.stdlib_module_names) | set(request["allowed"])


def resolve(name, module):
    parts = name.split(".")
    if not parts[0]:
        return {"resolved": False, "reason": "a relative import has no package here"}
    if parts[0] not in allowed:
        return {"resolved": False, "reason": f"{parts[0]!r} is not an allowed module"}
    try:
        value = importlib.import_module(module)
    except BaseException as error:
        return {"resolved": False, "reason": f"import {module}: {type(error).__name__}: {error}"}
    skip = module.count(".") + 1
    for depth, part in enumerate(parts[skip:], start=skip + 1):
        try:
            if hasattr(value, part):
                value = getattr(value, part)
                continue
            if isinstance(value, types.ModuleType):
                value = importlib.import_module(".".join(parts[:depth]))
                continue
        except ModuleNotFoundError:
            pass
        except BaseException as error:
            reason = f"{'.'.join(parts[:depth])}: {type(error).__name__}"
            return {"resolved": False, "reason": reason}
        reason = f"{'.'.join(parts[:depth - 1])} has no attribute {part!r}"
        return {"resolved": False, "reason": reason}
    return {"resolved": True}


with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    results = [resolve(ref["name"], ref["module"]) for ref in request["references"]]
print(json.dumps(results))
"""


def _optional_imports(tree: ast.Module) -> set[int]:
    """ids of the import statements directly in the body of a ``try`` that catches
    ``ImportError`` or ``ModuleNotFoundError``."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for handler in node.handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught |= {kind.id for kind in kinds if isinstance(kind, ast.Name)}
        if caught & _OPTIONAL:
            optional |= {id(s) for s in node.body if isinstance(s, ast.Import | ast.ImportFrom)}
    return optional


def _other_bindings(tree: ast.Module) -> set[str]:
    """Names the program binds other than by importing them."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, _NAMED) and node.name:
            names.add(node.name)
    return names


def _chain(node: ast.Attribute) -> tuple[str, list[str]] | None:
    """``(base name, attributes)`` of ``a.b.c``; None when the chain starts at anything else."""
    parts: list[str] = []
    value: ast.expr = node
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    return (value.id, parts[::-1]) if isinstance(value, ast.Name) else None


def collect_references(code: str) -> list[dict[str, Any]]:
    """``[{name, line, module}]``: the imported modules and the attribute chains read off
    imported names, each once (at its first line), in order of appearance; ``module`` is the
    part of ``name`` that must import as a module. Raises ``SyntaxError``."""
    tree = ast.parse(code)
    optional, shadowed = _optional_imports(tree), _other_bindings(tree)
    bound: dict[str, tuple[str, str]] = {}  # name -> (what it is, the module it comes from)
    found: dict[tuple[str, str], int] = {}

    def add(name: str, line: int, module: str) -> None:
        found[name, module] = min(found.get((name, module), line), line)

    for node in ast.walk(tree):
        if id(node) in optional:  # the program copes without it: its names are not followed
            shadowed |= {a.asname or a.name.split(".")[0] for a in node.names}  # type: ignore
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, alias.name)
                if alias.asname:
                    bound[alias.asname] = alias.name, alias.name
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = top, top
        elif isinstance(node, ast.ImportFrom):
            dots, module = "." * node.level, node.module or ""
            for alias in node.names:
                if alias.name == "*":
                    add(dots + module, node.lineno, dots + module)
                    continue
                name = dots + ".".join(part for part in (module, alias.name) if part)
                add(name, node.lineno, dots + module)
                if not node.level:
                    bound[alias.asname or alias.name] = name, module
    usable = {name: target for name, target in bound.items() if name not in shadowed}
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        # only whole chains: ``os.path.join``, not also the ``os.path`` inside it
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        chain = _chain(node)
        if chain and chain[0] in usable:
            target, module = usable[chain[0]]
            add(".".join([target, *chain[1]]), node.lineno, module)
    ordered = sorted(found.items(), key=lambda item: (item[1], item[0]))
    return [{"name": name, "line": line, "module": module} for (name, module), line in ordered]


async def resolve_references(
    sandbox: Sandbox, references: list[dict[str, Any]], allowed: list[str]
) -> tuple[ExecResult, list[dict[str, Any]] | None]:
    """The resolver's run and one ``{resolved, reason?}`` per reference (None when it failed)."""
    wanted = [{"name": r["name"], "module": r["module"]} for r in references]
    stdin = json.dumps({"references": wanted, "allowed": sorted(allowed)})
    result = await sandbox.run(RESOLVER, stdin)
    if not result.ok:
        return result, None
    try:
        outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return result, None
    usable = isinstance(outcomes, list) and len(outcomes) == len(references)
    return result, outcomes if usable else None


async def api_verdict(sandbox: Sandbox, code: str, allowed: list[str]) -> dict[str, Any]:
    """The ``api_exists`` verification of ``code``: verified when the resolver ran and every
    reference resolved. Code that does not parse is never verified."""
    try:
        references = collect_references(code)
    except (SyntaxError, ValueError) as error:
        return verdict(KIND, False, code=code, allowed=sorted(allowed), references=[],
                       syntax_error=str(error), execution=None)  # fmt: skip
    result, outcomes = await resolve_references(sandbox, references, allowed)
    resolved = outcomes or [{"resolved": False, "reason": "the resolver failed"}] * len(references)
    references = [ref | outcome for ref, outcome in zip(references, resolved, strict=True)]
    ok = outcomes is not None and all(r["resolved"] for r in references)
    return verdict(KIND, ok, code=code, allowed=sorted(allowed), references=references,
                   execution=result.evidence())  # fmt: skip


def unresolved(verification: dict[str, Any]) -> list[str]:
    """``name (reason)`` of each reference that did not resolve."""
    return [
        f"{r['name']} ({r.get('reason', 'unresolved')})"
        for r in verification["references"]
        if not r["resolved"]
    ]


async def recheck(v: dict[str, Any], sandbox: Sandbox) -> bool:
    """Re-collect the references of the stored code, re-resolve them in the sandbox; the same
    references, outcomes and verdict as stored."""
    again = await api_verdict(sandbox, v["code"], list(v["allowed"]))
    fields = ("name", "line", "module", "resolved")
    same_refs = [[r.get(f) for f in fields] for r in again["references"]] == [
        [r.get(f) for f in fields] for r in v["references"]
    ]
    return same_refs and again["verified"] == v["verified"]
