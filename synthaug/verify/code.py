"""Running generated programs, tests and function calls in the sandbox.

Tests and function calls run apart from the code under test: the candidate's
functions are called from another process (``Sandbox.run_tests``) or from
synthaug itself (``Sandbox.call_function``) through a pipe, so the candidate
cannot change the verdict.
"""

from __future__ import annotations

from typing import Any

from .sandbox import ExecResult, Sandbox

CALL_TIMEOUT_S = 1.0  # Case2Code's per-call limit


async def run_program(sandbox: Sandbox, code: str) -> ExecResult:
    """A program that prints its answer (program of thought); the answer is read here."""
    return await sandbox.run(code)


async def run_tests(sandbox: Sandbox, solution: str, tests: str) -> ExecResult:
    """``tests`` against ``solution``, each in its own process: passes iff the result is ``ok``;
    ``unverifiable`` when a value could not be passed between the two."""
    return await sandbox.run_tests(solution.rstrip() + "\n", tests.strip() + "\n")


async def call_function(
    sandbox: Sandbox, code: str, func_name: str, inputs: list[dict[str, Any]]
) -> tuple[ExecResult, list[dict[str, Any]]]:
    """Call ``func_name(**input)`` for each input (``CALL_TIMEOUT_S`` each).

    Returns the run and one outcome per input, ``{"return": value}`` or
    ``{"error": "Type: message"}`` (``"Unverifiable: ..."`` for a value that cannot be
    passed back); no outcomes when the run itself failed.
    """
    return await sandbox.call_function(code, func_name, inputs, CALL_TIMEOUT_S)
