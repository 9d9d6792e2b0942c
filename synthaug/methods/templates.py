"""Prompt templates: Jinja files that live beside each method module."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2


@cache
def _environment(directory: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(module_file: str, name: str, **values: object) -> str:
    """Render ``templates/<name>`` next to ``module_file`` with ``values``."""
    directory = str(Path(module_file).parent / "templates")
    return _environment(directory).get_template(name).render(**values)
