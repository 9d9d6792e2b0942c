"""Tool calls checked and run: the format check (a known tool, arguments valid under its
schema) and the execution (each call in the sandbox, apart from synthaug: the tool's module
serves calls sent from here, so its code cannot change an outcome it did not return)."""

from __future__ import annotations

import json
from typing import Any

from ..verify.sandbox import ExecResult, Sandbox
from .data import DataChanged, load
from .host import HostRunner, is_host
from .schema import problems

CALL_TIMEOUT_S = 2.0  # per call, after the tool's module has loaded


def call_problems(call: Any, tools: list[dict[str, Any]]) -> list[str]:
    """What is wrong with one call ``{"name", "arguments"}`` against the offered OpenAI tool
    schemas (empty when it names an offered tool with schema-valid arguments)."""
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return ['not a call: expected {"name": ..., "arguments": {...}}']
    schemas = {t["function"]["name"]: t["function"] for t in tools}
    name = call["name"]
    if name not in schemas:
        return [f"{name}: no such tool (offered: {', '.join(schemas) or 'none'})"]
    arguments = call.get("arguments")
    if isinstance(arguments, str):  # the OpenAI wire form: a JSON string
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return [f"{name}: arguments are not JSON"]
    parameters = schemas[name].get("parameters") or {"type": "object"}
    return [f"{name}: {p}" for p in problems(arguments, parameters)]


def format_problems(calls: Any, tools: list[dict[str, Any]]) -> list[str]:
    """The format check of a list of calls: every problem, each naming its call."""
    if not isinstance(calls, list):
        return ["tool_calls is not a list"]
    return [f"call {i}: {p}" for i, call in enumerate(calls, 1) for p in call_problems(call, tools)]


async def run_calls(
    sandbox: Sandbox, calls: list[dict[str, Any]], implementations: dict[str, dict[str, Any]],
    host: HostRunner | None = None, recorded: list[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Run each call ``{"name", "arguments"}`` with its tool's code; returns one outcome per
    call (``{"return": value}`` or ``{"error": "Type: message"}``) and the evidence of each
    sandbox run. Calls to one tool share one run, in their order. A tool's recorded data
    files (``data.py``) are given to it read-only, and only with the contents they were
    recorded with: otherwise its calls fail (``data_changed``) and nothing runs.

    A host tool (``host.py``: the model as a translator) runs through ``host`` in this
    process, one call at a time; given ``recorded`` outcomes (``synthaug verify``), a host
    call's stored outcome is taken as it is."""
    outcomes: list[dict[str, Any] | None] = [None] * len(calls)
    runs = []
    for name in dict.fromkeys(call["name"] for call in calls):
        indices = [i for i, call in enumerate(calls) if call["name"] == name]
        inputs = [calls[i]["arguments"] for i in indices]
        implementation = implementations[name]
        if is_host(implementation):
            for index in indices:
                if recorded is not None:
                    outcomes[index] = recorded[index]
                    runs.append({"tool": name, "status": "recorded",
                                 "isolation": "host: the stored result, taken as it is"})  # fmt: skip
                elif host is None:
                    outcomes[index] = {"error": f"RuntimeError: {name} needs a backend"}
                else:
                    outcomes[index], evidence = await host(name, calls[index]["arguments"])
                    runs.append(evidence)
            continue
        try:
            data = {spec["name"]: load(spec) for spec in implementation.get("data", [])}
        except DataChanged as error:
            runs.append({"tool": name, "status": "data_changed", "detail": str(error)})
            for index in indices:
                outcomes[index] = {"error": f"DataChanged: {error}"[:300]}
            continue
        result, answers = await sandbox.call_function(
            implementation["code"], name, inputs, CALL_TIMEOUT_S, data or None
        )
        runs.append({"tool": name, "status": result.status, "detail": result.detail,
                     "isolation": result.isolation})  # fmt: skip
        for index, answer in zip(indices, answers or [_failed(result)] * len(indices), strict=True):
            outcomes[index] = answer
    return [o for o in outcomes if o is not None], runs


def _failed(result: ExecResult) -> dict[str, Any]:
    return {"error": f"sandbox {result.status}: {result.detail}"[:300]}
