"""Python code in model replies: code blocks, and tests that would shadow a solution."""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"^```[ \t]*([\w+.#-]*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}


def code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language tag, body)`` of each closed Markdown code fence in ``text``."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def python_code(text: str) -> str | None:
    """The Python in a reply: its ``python`` code blocks (and untagged blocks that parse as
    Python) joined in order, or None when there is none."""
    blocks = [
        body.rstrip()
        for tag, body in code_blocks(text)
        if tag in _PYTHON_TAGS or (not tag and body.strip() and _parses(body))
    ]
    blocks = [block for block in blocks if block.strip()]
    return "\n\n\n".join(blocks) + "\n" if blocks else None


def first_python_block(text: str) -> str | None:
    """The first Python code block of a reply (later blocks are often alternatives)."""
    for tag, body in code_blocks(text):
        if (tag in _PYTHON_TAGS or (not tag and _parses(body))) and body.strip():
            return body.rstrip() + "\n"
    return None


def code_or_text(text: str) -> str:
    """The Python code blocks of a reply, or the whole reply when it has none."""
    return python_code(text) or text.strip() + "\n"


def _defined(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def without_shadowing(tests: str, solution: str) -> str:
    """``tests`` minus the top-level definitions of names the solution defines: run after the
    solution, they would replace it (tests that bring their own ``add`` pass any solution)."""
    try:
        tree, defined = ast.parse(tests), _defined(ast.parse(solution))
    except (SyntaxError, ValueError):
        return tests
    shadowing = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.name in defined
    ]
    if not shadowing:
        return tests
    lines = tests.splitlines(keepends=True)
    drop = {
        line
        for node in shadowing
        for line in range(
            min([node.lineno, *(d.lineno for d in node.decorator_list)]), node.end_lineno + 1
        )
    }
    return "".join(line for number, line in enumerate(lines, 1) if number not in drop)
