"""Errors a user can act on. Each renders as one line; the CLI exits with code 2."""

from __future__ import annotations


class SynthaugError(Exception):
    """An error caused by input or configuration, shown to the user as one line."""

    exit_code = 2


class InputError(SynthaugError):
    """Bad input data: names the file, the line or field, and the problem."""

    def __init__(self, path: str, problem: str, line: int | None = None, field: str | None = None):
        self.path, self.problem, self.line, self.field = str(path), problem, line, field
        where = self.path
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {problem}")


class RecipeError(SynthaugError):
    """An invalid recipe; the message starts with the YAML path, e.g. ``steps[1].params.x``."""


class BackendUnavailable(SynthaugError):
    """A backend that cannot be reached or loaded, found before any model call."""


class OutputError(SynthaugError):
    """An output path that cannot be written: names the path and the reason."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: cannot write the output ({reason})")
