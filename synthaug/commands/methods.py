"""``synthaug methods [--details NAME]``: the registered methods, from their steps' declarations."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ..engine.step import Step
from ..methods.registry import MethodInfo, all_methods, get_method
from . import EPILOG, command


@command
def add_command(commands: Any) -> None:
    methods = commands.add_parser(
        "methods",
        help="list methods with their survey taxonomy class and lifecycle stage",
        description="List every registered method and step; --details NAME shows one "
        "method's columns, parameters with their defaults, paper and taxonomy class.",
        epilog=EPILOG,
    )
    methods.add_argument("--details", metavar="NAME", help="describe one method in full")
    methods.add_argument("--json", action="store_true", help="print JSON")
    methods.set_defaults(handler=cmd_methods)


def cmd_methods(args: argparse.Namespace) -> int:
    if args.details:
        info = details(get_method(args.details, where="--details"))
        print(json.dumps(info, indent=2) if args.json else render_details(info))
        return 0
    methods = all_methods()
    if args.json:
        rows = [
            {"name": m.name, "taxonomy": m.taxonomy, "stage": m.stage, "paper": m.paper,
             "summary": m.summary}
            for m in methods
        ]  # fmt: skip
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(m.name) for m in methods)
    for m in methods:
        print(f"{m.name:<{width}}  {m.summary}")
        print(f"{'':<{width}}  taxonomy: {m.taxonomy} | stage: {m.stage} | paper: {m.paper}")
    return 0


def details(info: MethodInfo) -> dict[str, Any]:
    """What ``info``'s step declares: kind, columns, model use and parameters."""
    step = info.step
    kind = next(
        base.__name__
        for base in step.__mro__
        if base.__name__ in ("SourceStep", "MapStep", "WholeStep")
    )
    return {
        "name": info.name,
        "summary": info.summary,
        "kind": kind,
        "taxonomy": info.taxonomy,
        "stage": info.stage,
        "paper": info.paper,
        "reads": list(step.reads),
        "writes": list(step.writes),
        # columns that depend on the params (e.g. a dedup step's ``columns``)
        "columns_from_params": step.input_columns is not Step.input_columns
        or step.output_columns is not Step.output_columns,
        "calls_a_model": step.uses_llm,
        "backend_params": list(step.backend_params),
        "params": {name: _param(field) for name, field in step.Params.model_fields.items()},
    }


def _param(field: FieldInfo) -> dict[str, Any]:
    annotation = field.annotation
    plain = isinstance(annotation, type) and not getattr(annotation, "__args__", None)
    shown = annotation.__name__ if plain else str(annotation)  # type: ignore[union-attr]
    param: dict[str, Any] = {"type": shown.replace("typing.", "")}
    if field.is_required():
        param["required"] = True
    else:
        default = field.get_default(call_default_factory=True)
        param["default"] = None if default is PydanticUndefined else _jsonable(default)
    if field.description:
        param["help"] = field.description
    return param


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value


def render_details(info: dict[str, Any]) -> str:
    lines = [
        f"{info['name']} ({info['kind']}{', calls a model' if info['calls_a_model'] else ''})",
        f"  {info['summary']}",
        f"  taxonomy: {info['taxonomy']}",
        f"  stage:    {info['stage']}",
        f"  paper:    {info['paper']}",
        f"  reads:    {', '.join(info['reads']) or '-'}",
        f"  writes:   {', '.join(info['writes']) or '-'}",
    ]
    if info["columns_from_params"]:
        lines.append("            (and the columns its params name)")
    if info["backend_params"]:
        lines.append(f"  backends: chosen by {', '.join(info['backend_params'])}")
    lines.append("  params:" if info["params"] else "  params:   none")
    for name, param in info["params"].items():
        value = "required" if param.get("required") else f"default {json.dumps(param['default'])}"
        help_text = f"  — {param['help']}" if "help" in param else ""
        lines.append(f"    {name}: {param['type']}, {value}{help_text}")
    return "\n".join(lines)
