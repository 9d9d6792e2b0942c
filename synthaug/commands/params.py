"""Command options from a step's ``Params``, so that nothing is declared twice.

Each field becomes ``--field-name`` with its type, choices (a ``Literal``), default and
description; booleans get ``--name/--no-name``; lists are comma-separated. The values are
checked by the same pydantic model the step uses, and its errors name the options.
"""

from __future__ import annotations

import argparse
import re
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from ..errors import SynthaugError

DEST = "param_"  # apart from the command's own options (e.g. --cache, a path, vs a step's flag)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_param_options(
    parser: argparse.ArgumentParser, params: type[BaseModel], skip: tuple[str, ...] = ()
) -> None:
    """An option for every field of ``params`` not in ``skip`` and not already on ``parser``
    (several step models may share fields, e.g. the three dedup modes)."""
    for name, field in params.model_fields.items():
        if name in skip or flag(name) in parser._option_string_actions:
            continue
        parser.add_argument(flag(name), dest=DEST + name, default=None, **_argument(field))


def params_from_args(params: type[BaseModel], args: argparse.Namespace, **fixed: Any) -> BaseModel:
    """``params`` from the options given on the command line (and ``fixed`` values); an invalid
    value is a ``SynthaugError`` naming the option."""
    values = {
        name: getattr(args, DEST + name)
        for name in params.model_fields
        if getattr(args, DEST + name, None) is not None
    }
    try:
        return params.model_validate({**values, **fixed})
    except ValidationError as exc:
        raise SynthaugError(_message(exc, params)) from exc


def _argument(field: FieldInfo) -> dict[str, Any]:
    kind = _inner(field.annotation)
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    help_text = field.description or ""
    if default is not None:
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        help_text = f"{help_text} (default: {shown})".strip()
    argument: dict[str, Any] = {"help": help_text or None}
    if kind is bool:
        argument["action"] = argparse.BooleanOptionalAction
    elif get_origin(kind) is Literal:
        argument["choices"] = list(get_args(kind))
    elif get_origin(kind) is list:
        argument["type"] = _comma_list
        argument["metavar"] = "A,B"
    elif kind in (int, float, str):
        argument["type"] = kind
    return argument


def _inner(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        return present[0] if len(present) == 1 else annotation
    return annotation


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _message(exc: ValidationError, params: type[BaseModel]) -> str:
    error = exc.errors()[0]
    text = str(error["msg"]).removeprefix("Value error, ")
    if error["loc"]:
        return f"{flag(str(error['loc'][0]))}: {text}"
    # a check of the whole model names its fields: say the options instead
    names = "|".join(sorted(params.model_fields, key=len, reverse=True))
    return re.sub(rf"\b({names})\b", lambda m: flag(m.group(1)), text)
