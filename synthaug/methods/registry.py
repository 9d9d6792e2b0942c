"""The method registry behind recipes and ``synthaug methods``.

Every step class registers under a dotted name with the survey's taxonomy
class (Wang et al., 2024, "A Survey on Data Synthesis and Augmentation for
Large Language Models"), the lifecycle stage it serves and its paper.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from ..engine.step import Step
from ..errors import RecipeError

# Modules that register methods: every module under ``synthaug.methods`` except these,
# imported on first use so the core stays light.
NOT_METHODS = {"synthaug.methods.registry", "synthaug.methods.templates"}


@dataclass(frozen=True)
class MethodInfo:
    name: str
    step: type[Step]
    taxonomy: str
    stage: str
    paper: str

    @property
    def summary(self) -> str:
        return (self.step.__doc__ or "").strip().splitlines()[0]


_REGISTRY: dict[str, MethodInfo] = {}


def register(
    name: str, *, taxonomy: str, stage: str, paper: str
) -> Callable[[type[Step]], type[Step]]:
    """Class decorator: register a step under ``name``."""

    def add(cls: type[Step]) -> type[Step]:
        cls.method = name
        _REGISTRY[name] = MethodInfo(name, cls, taxonomy, stage, paper)
        return cls

    return add


@cache
def _load() -> None:
    import synthaug.methods as package

    for module in pkgutil.walk_packages(package.__path__, "synthaug.methods."):
        if not module.ispkg and module.name not in NOT_METHODS:
            importlib.import_module(module.name)


def all_methods() -> list[MethodInfo]:
    _load()
    return sorted(_REGISTRY.values(), key=lambda m: m.name)


def get_method(name: str, where: str = "method") -> MethodInfo:
    """The registered method ``name``, or a ``RecipeError`` suggesting the closest names."""
    _load()
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(name, _REGISTRY, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else " (see `synthaug methods`)"
    raise RecipeError(f"{where}: unknown method '{name}'{hint}")
