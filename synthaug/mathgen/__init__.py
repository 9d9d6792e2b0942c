"""Scripted problem generators whose answers are computed, never produced by a model.

Math in the style of AMPS (Hendrycks et al., 2021, "Measuring Mathematical Problem Solving With
the MATH Dataset": Khan Academy / Mathematica-style scripted exercises with step-by-step
solutions) and simulation-grounded physics in the spirit of Mind's Eye (Liu et al., 2022,
arXiv 2210.05359). A generator is ``callable(rng: random.Random, **params) -> dict`` returning
``question``, ``answer`` (exact: ``7``, ``3/4`` or a sympy ``str``), ``solution`` (steps ending
with the line ``The answer is <answer>.``) and ``params`` (the effective parameters, JSON-able);
physics items add ``unit`` and ``simulated``. ``regenerate(name, seed, params)`` rebuilds an
item exactly from ``random.Random(seed)``, which is what a ``generator`` verification re-checks.
Third-party generators come from the entry-point group ``synthaug.math_generators``.
"""

from __future__ import annotations

import difflib
import inspect
import json
import random
from typing import Any

from . import arithmetic, calculus, fraction_ops, linear, physics, polynomials, probability, systems
from .plugins import GROUP, Generator, GeneratorError, load_plugin, plugin_entry_points

GENERATORS: dict[str, Generator] = {
    **arithmetic.GENERATORS,
    **fraction_ops.GENERATORS,
    **linear.GENERATORS,
    **systems.GENERATORS,
    **polynomials.GENERATORS,
    **calculus.GENERATORS,
    **probability.GENERATORS,
    **physics.GENERATORS,
}
PHYSICS = [name for name in GENERATORS if name.startswith("physics.")]
MATH = [name for name in GENERATORS if name not in PHYSICS]

__all__ = [
    "GENERATORS",
    "GROUP",
    "MATH",
    "PHYSICS",
    "GeneratorError",
    "available",
    "get_generator",
    "regenerate",
]


def available() -> list[str]:
    """Every generator name: the built-ins, then the installed plugins (not imported)."""
    return list(GENERATORS) + sorted(set(plugin_entry_points()) - set(GENERATORS))


def get_generator(name: str) -> Generator:
    """The built-in generator ``name`` or the plugin of that name (a built-in wins)."""
    if name in GENERATORS:
        return GENERATORS[name]
    if name in plugin_entry_points():
        return load_plugin(name)
    close = difflib.get_close_matches(name, available(), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(available())}"
    raise GeneratorError(f"unknown generator {name!r} ({hint})")


def regenerate(name: str, seed: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The item generator ``name`` makes from ``random.Random(seed)`` and ``params``.

    Bad parameters raise ``ValueError`` (naming the parameter); a plugin that fails or returns
    something off-contract raises ``GeneratorError``.
    """
    generator = get_generator(name)
    params = dict(params or {})
    _check_names(name, generator, params)
    try:
        result = generator(random.Random(seed), **params)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    except Exception as exc:
        if name in GENERATORS:
            raise
        raise GeneratorError(f"plugin {name!r} failed: {type(exc).__name__}: {exc}") from exc
    return check_item(name, result)


def _check_names(name: str, generator: Generator, params: dict[str, Any]) -> None:
    signature = inspect.signature(generator)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    known = [p for p in list(signature.parameters)[1:]]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"{name}: unknown parameter {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(known) or 'none'})"
        )


def check_item(name: str, result: Any) -> dict[str, Any]:
    """``result`` if it keeps the generator contract, else a one-line ``GeneratorError``."""
    if not isinstance(result, dict):
        raise GeneratorError(f"generator {name!r} returned {type(result).__name__}, not a dict")
    for key in ("question", "answer", "solution"):
        if not isinstance(result.get(key), str) or not result[key].strip():
            raise GeneratorError(f"generator {name!r}: {key!r} must be a non-empty string")
    if not isinstance(result.get("params"), dict):
        raise GeneratorError(f"generator {name!r}: 'params' must be a dict")
    try:
        json.dumps(result["params"])
    except (TypeError, ValueError) as exc:
        raise GeneratorError(f"generator {name!r}: 'params' must be JSON-able ({exc})") from exc
    final = f"The answer is {result['answer']}."
    if result["solution"].rstrip().splitlines()[-1].strip() != final:
        raise GeneratorError(f"generator {name!r}: the solution must end with {final!r}")
    return result
