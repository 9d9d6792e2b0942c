"""Third-party generators: entry points in the group ``synthaug.math_generators``.

A package declares, in its ``entry_points.txt`` (``[project.entry-points."synthaug.math_generators"]``
in ``pyproject.toml``)::

    [synthaug.math_generators]
    mypkg.matrices = mypkg.gen:matrices

and the callable ``matrices(rng: random.Random, **params) -> dict`` follows the contract of the
built-in generators. Entry points are listed cheaply and imported only when a name is used.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..errors import SynthaugError

GROUP = "synthaug.math_generators"
Generator = Callable[..., dict[str, Any]]


class GeneratorError(SynthaugError):
    """An unknown or broken generator, or one whose output breaks the contract."""


@cache
def plugin_entry_points() -> dict[str, EntryPoint]:
    """The installed plugins by name (nothing is imported)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


@cache
def load_plugin(name: str) -> Generator:
    """Import the plugin ``name``; a ``GeneratorError`` (one line) when it cannot be loaded."""
    ep = plugin_entry_points()[name]
    where = f"plugin {name!r} (entry point {GROUP}: {ep.value})"
    try:
        loaded = ep.load()
    except Exception as exc:  # any import-time failure of third-party code
        raise GeneratorError(f"{where} failed to load: {_one_line(exc)}") from exc
    if not callable(loaded):
        raise GeneratorError(f"{where} is not callable but {type(loaded).__name__}")
    return loaded


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
