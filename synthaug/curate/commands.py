"""The curation commands: dedup, prune, decontaminate, filter, redact, stats."""

from __future__ import annotations

from typing import Any

from . import cli_dedup, cli_text


def add_commands(commands: Any) -> None:
    """Add every curation command to the ``synthaug`` sub-command parser."""
    cli_dedup.add(commands)
    cli_text.add(commands)
