"""The command line: `policy-webhook serve | check | test | diff | certs`.

Exit codes, for every command: 0 ok, 1 policy violations (or failed tests), 2 bad input.
Each command lives in `webhook/commands/` and registers its own arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from webhook import __version__
from webhook.commands import COMMANDS

EXIT_BAD_INPUT = 2


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with `only`, the other commands are listed but get no arguments (so
    what only they import is not imported)."""
    parser = argparse.ArgumentParser(
        prog="policy-webhook",
        description="Policy-as-code admission webhook for Kubernetes, and its dry run for CI.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        if only is None or only == command.NAME:
            command.register(subcommands)
        else:
            subcommands.add_parser(command.NAME, help=command.HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments_given = list(sys.argv[1:] if argv is None else argv)
    names = {command.NAME for command in COMMANDS}
    chosen = arguments_given[0] if arguments_given else None
    parser = build_parser(chosen if chosen in names else None)
    try:
        arguments = parser.parse_args(arguments_given)
    except SystemExit as exit_:
        return int(exit_.code) if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    try:
        result: int = arguments.run(arguments)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    return result
