"""The command registry.

A module that offers sub-commands registers the one function that adds them to the parser
(``@command``); ``synthaug.cli`` imports ``COMMAND_MODULES`` (then the modules named in the
``synthaug.commands`` entry-point group) and calls what they registered, in that order.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

EPILOG = "Docs: README.md. Errors in input or recipes exit with code 2."
COMMAND_MODULES = (
    "synthaug.commands.run",  # run, score
    "synthaug.commands.batches",
    "synthaug.commands.cache",  # cache merge  # batches list, batches cancel (openai_batch runs)
    "synthaug.commands.plan",
    "synthaug.commands.methods",
    "synthaug.commands.inspect",
    "synthaug.commands.ingest",
    "synthaug.commands.retrieve",
    "synthaug.commands.dedup",  # dedup, prune
    "synthaug.commands.curate_text",  # decontaminate, filter, redact, stats
    "synthaug.verify.command",
    "synthaug.export.command",
    "synthaug.methods.preference.winrates",
    "synthaug.review.command",
    "synthaug.report.command",
    "synthaug.view.command",
    "synthaug.methods.labeling.metrics",  # label-report
    "synthaug.commands.evaluate",
)
ENTRY_POINTS = "synthaug.commands"

Adder = Callable[[Any], None]  # gets the parser's sub-command action; adds its commands
_ADDERS: dict[str, Adder] = {}


def command(adder: Adder) -> Adder:
    """Decorator: register the function of this module that adds its sub-commands."""
    _ADDERS[adder.__module__] = adder
    return adder


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add every registered command, built-in modules first."""
    plugins = [entry.value for entry in entry_points(group=ENTRY_POINTS)]
    for module in (*COMMAND_MODULES, *plugins):
        importlib.import_module(module)
        _ADDERS[module](commands)
