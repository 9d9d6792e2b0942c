"""Tools a model may call: OpenAI ``tools`` schemas with Python implementations that run only
in the sandbox (``registry``: built-ins, Python files, JSON schemas; ``schema``: argument
checks; ``execute``: the format check and sandboxed runs)."""
