"""Backends by name: recipes, ``--backend`` and validation all read this registry.

Adding a backend is one module with a ``Backend`` subclass, a pydantic model of
its recipe options and one ``register_backend`` call; the module goes into
``BUILTIN`` (or, for a separate package, the ``synthaug.backends`` entry-point
group, whose entries name such a module). A recipe's ``backend:`` mapping is
``type`` (a registered name), the client's ``max_retries`` and the options of
that backend; options that only another registered backend takes are ignored,
so ``--backend openai`` can replace a recipe's ``{type: local, parallel: 8}``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import RecipeError
from .backend import Backend

BUILTIN = (
    "synthaug.llm.local",
    "synthaug.llm.openvino",
    "synthaug.llm.openai",
    "synthaug.llm.openai_batch",
)
ENTRY_POINTS = "synthaug.backends"


@dataclass(frozen=True)
class BackendType:
    name: str
    options: type[BaseModel]
    build: Callable[[Any], Backend]  # validated options -> an unstarted backend
    summary: str


_BACKENDS: dict[str, BackendType] = {}


def register_backend(
    name: str, options: type[BaseModel], build: Callable[[Any], Backend], summary: str
) -> None:
    """Make ``type: NAME`` in recipes build ``build(options(**recipe values))``."""
    _BACKENDS[name] = BackendType(name, options, build, summary)


@cache
def _load() -> None:
    for module in BUILTIN:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINTS):
        importlib.import_module(entry.value)


def backend_types() -> dict[str, BackendType]:
    """Every registered backend, by name."""
    _load()
    return dict(sorted(_BACKENDS.items()))


def build_backend(kind: str, values: dict[str, Any], where: str = "backend") -> Backend:
    """The backend ``kind`` configured by ``values`` (nothing is loaded or contacted yet).

    ``where`` is the YAML path used in errors, e.g. ``backends.judge``.
    """
    return backend_type(kind, where).build(backend_options(kind, values, where))


def backend_type(kind: str, where: str = "backend") -> BackendType:
    types = backend_types()
    if kind not in types:
        raise RecipeError(f"{where}.type: unknown backend {kind!r} (known: {', '.join(types)})")
    return types[kind]


def backend_options(kind: str, values: dict[str, Any], where: str = "backend") -> BaseModel:
    """``values`` validated by backend ``kind``'s options; keys no backend takes are errors."""
    types = backend_types()
    options = backend_type(kind, where).options
    for key in values:
        if not any(key in other.options.model_fields for other in types.values()):
            takes = "; ".join(
                f"{t.name}: {', '.join(t.options.model_fields)}" for t in types.values()
            )
            raise RecipeError(f"{where}.{key}: no backend takes this option ({takes})")
    try:
        return options.model_validate(
            {k: v for k, v in values.items() if k in options.model_fields}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(part) for part in error["loc"])
        raise RecipeError(f"{where}.{path}: {error['msg']}") from exc
