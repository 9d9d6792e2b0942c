"""Running generated programs, tests and function calls in the sandbox."""

from __future__ import annotations

import json
from typing import Any

from .sandbox import ExecResult, Sandbox

CALL_TIMEOUT_S = 1.0  # Case2Code's per-call limit
CASES_BEGIN = "<<<synthaug-cases>>>"

# Appended to a function's source: call it on each input under a per-call alarm and
# print one JSON line of outcomes after a marker. Outputs are ``repr`` strings when not
# JSON-able, so every outcome can be stored and compared.
CALLER = """

def _synthaug_cases():
    import json as _json
    import signal as _signal

    class _Timeout(Exception):
        pass

    def _alarm(*_):
        raise _Timeout(f"call took over {timeout} s")

    def _jsonable(value):
        try:
            _json.dumps(value)
            return value
        except (TypeError, ValueError):
            return repr(value)

    _signal.signal(_signal.SIGALRM, _alarm)
    outcomes = []
    for arguments in _json.loads(inputs):
        _signal.setitimer(_signal.ITIMER_REAL, timeout)
        try:
            outcomes.append({{"return": _jsonable({func}(**arguments))}})
        except BaseException as error:
            outcomes.append({{"error": f"{{type(error).__name__}}: {{error}}"[:300]}})
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
    print({begin!r} + _json.dumps(outcomes))


timeout = {timeout}
inputs = {inputs!r}
_synthaug_cases()
"""


async def run_program(sandbox: Sandbox, code: str) -> ExecResult:
    """A program that prints its answer (program of thought)."""
    return await sandbox.run(code)


async def run_tests(sandbox: Sandbox, solution: str, tests: str) -> ExecResult:
    """``solution`` then ``tests`` as one program: passes iff the result is ``ok``."""
    return await sandbox.run(f"{solution.rstrip()}\n\n\n{tests.strip()}\n")


async def call_function(
    sandbox: Sandbox, code: str, func_name: str, inputs: list[dict[str, Any]]
) -> tuple[ExecResult, list[dict[str, Any]]]:
    """Call ``func_name(**input)`` for each input (``CALL_TIMEOUT_S`` each).

    Returns the run and one outcome per input, ``{"return": value}`` or
    ``{"error": "Type: message"}``; no outcomes when the run itself failed.
    """
    program = code.rstrip() + CALLER.format(
        func=func_name, inputs=json.dumps(inputs), timeout=CALL_TIMEOUT_S, begin=CASES_BEGIN
    )
    result = await sandbox.run(program)
    return result, parse_cases(result.stdout) if result.ok else []


def parse_cases(stdout: str) -> list[dict[str, Any]]:
    """The outcomes printed by ``CALLER`` (empty when missing or garbled)."""
    start = stdout.rfind(CASES_BEGIN)
    if start < 0:
        return []
    try:
        outcomes = json.loads(stdout[start + len(CASES_BEGIN) :].splitlines()[0])
    except (ValueError, IndexError):
        return []
    return outcomes if isinstance(outcomes, list) else []
