"""Build ``code_seeds/``: 40 self-contained Python functions and classes taken from boltons (BSD-3-Clause).

Run once at build time (the seeds ship with synthaug; nothing is downloaded at run time)::

    pip download --no-deps --no-binary :all: boltons==26.2.0 -d /tmp/boltons
    tar xzf /tmp/boltons/boltons-26.2.0.tar.gz -C /tmp/boltons
    python synthaug/data/make_code_seeds.py /tmp/boltons/boltons-26.2.0

A function or class is kept when it is top-level, 3 to 80 lines long, and every global name it uses
is a builtin or a standard-library module the source module imports (those import lines are
copied above it), so each file runs on its own (boltons' LICENSE is copied beside them): OSS-Instruct takes snippets from them and
Case2Code can execute them. At most 4 functions per module, in source order, 40 in all.
"""

from __future__ import annotations

import ast
import builtins
import sys
from pathlib import Path

PACKAGE, VERSION, LICENCE = "boltons", "26.2.0", "BSD-3-Clause"
TOTAL, PER_MODULE = 40, 4
STDLIB = set(sys.stdlib_module_names)


def _imports(tree: ast.Module) -> dict[str, str]:
    """Name bound by a top-level stdlib import -> the import line."""
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in STDLIB:
                    line = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                    bound[alias.asname or alias.name.split(".")[0]] = line
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] in STDLIB
        ):
            for alias in node.names:
                name = alias.asname or alias.name
                suffix = f" as {alias.asname}" if alias.asname else ""
                bound[name] = f"from {node.module} import {alias.name}{suffix}"
    return bound


def _free_names(definition: ast.FunctionDef | ast.ClassDef) -> set[str]:
    """Names a definition reads but does not bind (over-approximated for classes: fine here)."""
    outside: set[str] = set()
    local: set[str] = {definition.name}
    if isinstance(definition, ast.FunctionDef):
        args = definition.args
        defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        outside = {n.id for d in defaults for n in ast.walk(d) if isinstance(n, ast.Name)}
    else:
        outside = {n.id for b in definition.bases for n in ast.walk(b) if isinstance(n, ast.Name)}
    local |= {a.arg for a in ast.walk(definition) if isinstance(a, ast.arg)}
    loaded = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else local).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) or (
            isinstance(node, ast.ExceptHandler) and node.name
        ):
            local.add(node.name)
        elif isinstance(node, ast.alias):
            local.add(node.asname or node.name.split(".")[0])
    return (loaded - local) | outside


def snippets(source_dir: Path) -> list[tuple[str, str]]:
    """(file name, text) of the chosen functions."""
    chosen: list[tuple[str, str]] = []
    for module in sorted((source_dir / PACKAGE).glob("*.py")):
        source = module.read_text(encoding="utf-8")
        tree = ast.parse(source)
        imports = _imports(tree)
        taken = 0
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef) or node.name.startswith("_"):
                continue
            if node.decorator_list or not 3 <= node.end_lineno - node.lineno + 1 <= 80:
                continue
            free = _free_names(node) - set(dir(builtins))
            if not free <= set(imports):
                continue
            lines = [imports[name] for name in sorted(free)]
            header = (
                f"# From {PACKAGE}=={VERSION}, {PACKAGE}/{module.name} ({LICENCE}, "
                "Copyright (c) 2013, Mahmoud Hashemi)\n"
            )
            body = ast.get_source_segment(source, node)
            text = header + ("\n".join(sorted(set(lines))) + "\n\n\n" if lines else "\n") + body
            chosen.append((f"{module.stem}_{node.name}.py", text + "\n"))
            taken += 1
            if taken == PER_MODULE:
                break
    return chosen[:TOTAL]


def main(source_dir: str) -> None:
    out = Path(__file__).parent / "code_seeds"
    out.mkdir(exist_ok=True)
    for stale in out.glob("*.py"):
        stale.unlink()
    for name, text in snippets(Path(source_dir)):
        (out / name).write_text(text, encoding="utf-8")
    # BSD-3-Clause: redistributed source keeps the copyright notice, conditions and disclaimer
    licence = (Path(source_dir) / "LICENSE").read_text(encoding="utf-8")
    (out / "LICENSE").write_text(licence, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
