"""YAML recipes: a validated description of a pipeline and the backend it runs on.

Errors name the YAML path of the offending value, e.g.
``steps[1].params.temperature: Input should be less than or equal to 2``.

    name: self_instruct
    seed: 0
    backend: {type: local, parallel: 8}        # or {type: openai, base_url: ..., model: ...}
    backends:                                  # optional extra backends, by name
      user: {type: openai, base_url: ..., model: ...}
    output: runs/self_instruct/data.jsonl
    steps:
      - method: self_instruct.bootstrap
        params: {num_instructions: 60}
      - method: self_instruct.classify

A step selects a named backend through a param (e.g. ``user_backend: user``);
an unknown name is an error at build time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .engine.pipeline import Pipeline
from .engine.step import Step
from .errors import RecipeError
from .llm import registry
from .llm.backend import Backend
from .llm.registry import backend_options
from .methods.registry import get_method


class BackendConfig(BaseModel):
    """``type`` names a registered backend (``synthaug.llm.registry``); ``max_retries`` is the
    client's; every other key is an option of the backend, checked by the registry."""

    model_config = ConfigDict(extra="allow")
    type: str = "local"
    max_retries: int = Field(5, ge=0, le=20)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    seed: int = 0
    backend: BackendConfig = Field(default_factory=BackendConfig)
    backends: dict[str, BackendConfig] = Field(default_factory=dict)
    output: str | None = None
    steps: list[StepConfig] = Field(min_length=1)


def builtin_recipes() -> dict[str, Path]:
    """Recipes shipped in ``synthaug/recipes``, by name."""
    folder = resources.files("synthaug") / "recipes"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def resolve_recipe_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.is_dir():
        raise RecipeError(f"{path}: is a directory, not a recipe file")
    builtins = builtin_recipes()
    if name_or_path in builtins:
        return builtins[name_or_path]
    known = ", ".join(sorted(builtins))
    raise RecipeError(f"{name_or_path}: no such recipe file or built-in recipe (built-in: {known})")


def load_recipe(name_or_path: str, overrides: list[str] = ()) -> Recipe:
    """Read, override (``key.path=value``) and validate a recipe."""
    path = resolve_recipe_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RecipeError(f"{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from exc
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not valid UTF-8") from exc
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping with name and steps")
    return recipe_from_dict(raw, overrides)


def recipe_from_dict(raw: dict[str, Any], overrides: list[str] = ()) -> Recipe:
    """Override (``key.path=value``) and validate a recipe given as plain data."""
    for override in overrides:
        apply_override(raw, override)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(_first_error(exc)) from exc
    for where, config in _backend_configs(recipe):
        backend_options(config.type, config.options, where)
    return recipe


def _backend_configs(recipe: Recipe) -> list[tuple[str, BackendConfig]]:
    """Every backend of ``recipe`` with its YAML path."""
    named = [(f"backends.{name}", config) for name, config in recipe.backends.items()]
    return [("backend", recipe.backend), *named]


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``steps[0].params.x=3`` (or ``steps.0.params.x=3``) in the raw recipe dict."""
    key, sep, value = override.partition("=")
    if not sep or not key:
        raise RecipeError(f"--set {override}: expected key=value")
    parts = [p for p in key.replace("[", ".").replace("]", "").split(".") if p]
    target: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise RecipeError(f"--set {key}: no item {part} in {'.'.join(parts[:depth])}")
            part = int(part)  # type: ignore[assignment]
        elif not isinstance(target, dict):
            raise RecipeError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping")
        if last:
            try:
                target[part] = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                problem = getattr(exc, "problem", None) or type(exc).__name__
                raise RecipeError(
                    f"--set {key}: the value is not valid YAML ({problem}); "
                    "quote it if it is meant as text"
                ) from None
        else:
            if isinstance(target, dict) and part not in target:
                target[part] = {}
            target = target[part]


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _first_error(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> str:
    error = exc.errors()[0]
    return f"{_path(prefix + tuple(error['loc'])) or 'recipe'}: {error['msg']}"


def build_pipeline(recipe: Recipe) -> Pipeline:
    """Instantiate every step (validating its params) and the pipeline."""
    steps = []
    for i, config in enumerate(recipe.steps):
        info = get_method(config.method, where=f"steps[{i}].method")
        try:
            steps.append(info.step(config.name, **config.params))
        except ValidationError as exc:
            raise RecipeError(_first_error(exc, ("steps", i, "params"))) from exc
        _check_backend_names(steps[-1], i, recipe.backends)
    pipeline = Pipeline(steps, name=recipe.name, seed=recipe.seed)
    pipeline.validate()
    return pipeline


def _check_backend_names(step: Step, index: int, backends: dict[str, BackendConfig]) -> None:
    for param, name in step.backend_names().items():
        if name not in backends:
            known = ", ".join(sorted(backends)) or "none"
            raise RecipeError(
                f"steps[{index}].params.{param}: no backend {name!r} in backends (known: {known}); "
                f"set backends.{name}, e.g. --set 'backends.{name}="
                "{type: openai, base_url: URL, model: NAME}'"
            )


def build_backend(config: BackendConfig, where: str = "backend") -> Backend:
    """The backend a recipe asks for (nothing is loaded or contacted yet); ``where`` is its YAML path."""
    return registry.build_backend(config.type, config.options, where)
