"""Regenerate README.md's method table (from the registry) and built-in recipe list.

Run ``python scripts/readme_tables.py`` after adding a method or a recipe.
"""

from __future__ import annotations

import re
from pathlib import Path

from synthaug.methods.registry import all_methods

README = Path(__file__).resolve().parents[1] / "README.md"
TABLE_START = "| method | survey taxonomy class"
TABLE_END = "\n## Command line"
RECIPES = re.compile(r"\((?:`\w+`, )+`\w+`\)")  # the parenthesised list of recipe names


def method_table() -> str:
    rows = ["| method | survey taxonomy class | lifecycle stage | paper |", "|---|---|---|---|"]
    for info in all_methods():
        cells = [f"`{info.name}`", info.taxonomy, info.stage, info.paper]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def recipe_list() -> str:
    recipes = Path(__file__).resolve().parents[1] / "synthaug" / "recipes"
    return "(" + ", ".join(f"`{p.stem}`" for p in sorted(recipes.glob("*.yaml"))) + ")"


def main() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START), text.index(TABLE_END)
    text = text[:start] + method_table() + text[end:]
    text, count = RECIPES.subn(recipe_list(), text)
    assert count == 1, "the recipe list in README.md was not found"
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
