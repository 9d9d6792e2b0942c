"""The import layering of ``synthaug``, checked on the source (no module is imported).

- no method family (a folder under ``synthaug/methods/`` other than ``common``) imports another
  family: shared step code lives in ``methods/common/`` or below;
- the engine imports nothing from the layers above it (it receives the sandbox and the clients
  through the run resources);
- the LLM layer imports nothing but itself and the package's base modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "synthaug"
ABOVE_ENGINE = {"verify", "methods", "curate", "review", "export", "cli", "commands", "recipe",
                "resources", "report"}  # fmt: skip
LLM_MAY_IMPORT = {"llm", "errors", "hashing", "machine"}  # leaf modules


def module_name(path: Path) -> list[str]:
    parts = ["synthaug", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports(path: Path) -> list[tuple[int, list[str]]]:
    """(line, absolute module path) of every import in ``path``, relative ones resolved."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = base + (node.module.split(".") if node.module else [])
            if node.module is None:  # from . import a, b
                found += [(node.lineno, [*target, alias.name]) for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, target) for line, target in found if target[:1] == ["synthaug"]]


def families() -> set[str]:
    return {
        p.name
        for p in (PACKAGE / "methods").iterdir()
        if p.is_dir() and p.name not in ("common", "__pycache__")
    }


def violations(folder: str, allowed) -> list[str]:
    found = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        for line, target in imports(path):
            if not allowed(path, target):
                found.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line} imports {'.'.join(target)}"
                )
    return found


def test_the_import_resolver_sees_relative_imports():
    found = {".".join(t) for _, t in imports(PACKAGE / "methods" / "curation" / "dedup.py")}
    assert "synthaug.curate.duplicates" in found and "synthaug.methods.registry" in found


def test_no_method_family_imports_another():
    def allowed(path: Path, target: list[str]) -> bool:
        family = path.relative_to(PACKAGE / "methods").parts[0]
        if target[:2] != ["synthaug", "methods"] or len(target) < 3:
            return True
        return target[2] not in families() or target[2] == family

    assert families() >= {"instruct", "preference", "reasoning"}
    assert violations("methods", allowed) == []


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [("engine", ABOVE_ENGINE), ("llm", None), ("students", ABOVE_ENGINE)],
)
def test_lower_layers_import_nothing_above_them(folder, forbidden):
    def allowed(path: Path, target: list[str]) -> bool:
        layer = target[1] if len(target) > 1 else ""
        return layer not in forbidden if forbidden else layer in LLM_MAY_IMPORT

    assert violations(folder, allowed) == []
