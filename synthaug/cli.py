"""The ``synthaug`` command line: assembles the commands that modules register
(``synthaug.commands``) and turns user errors into one line.

    synthaug run RECIPE [--set key=value ...] [--limit N] [--backend ...] [--model ...] [--out PATH]
    synthaug plan RECIPE [--sample N] [--prices FILE]   forecast calls, tokens, cost and time
    synthaug methods [--details NAME]   every method with its survey taxonomy class and stage
    synthaug inspect FILE       rows, columns, a sample and a summary of ``_meta``
    synthaug dedup | decontaminate | filter | ... IN -o OUT --columns ...   curation
    synthaug verify FILE        re-check each record's verification from its stored evidence
    synthaug export FILE --format sft|dpo|orpo|kto|rm -o OUT   trainer-ready files

User errors print one line and exit with code 2; a run stopped by its budget
(``--max-cost``, ``--max-tokens``) exits with 3 and an interrupted one with 130;
both resume when the same command is run again.
"""

from __future__ import annotations

import argparse
import sys

from .commands import EPILOG, add_commands
from .errors import SynthaugError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as given, recorded by runs to be reproduced
    try:
        return args.handler(args)
    except SynthaugError as exc:
        print(f"synthaug: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\nsynthaug: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthaug",
        description="Synthesize, augment and curate training data for LLMs.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    add_commands(commands)
    return parser


def _version() -> str:
    from . import __version__

    return f"synthaug {__version__}"


if __name__ == "__main__":
    sys.exit(main())
