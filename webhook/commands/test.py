"""`policy-webhook test`: run the policy test suites (kind PolicyTest) next to the policies."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_PATH = "policies"
EXIT_BAD_INPUT = 2

NAME = "test"
HELP = "run the policies' test suites (exit 0 all pass, 1 a test failed, 2 bad input)"


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        NAME,
        help=HELP,
        description="Run the PolicyTest suites found in `tests/` folders under PATH (or the "
        "suite files named) through the same engine as `check` and the webhook.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help=f"suite file, or directory searched for tests/*.yaml (default: {DEFAULT_PATH}/)",
    )
    parser.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    # Imported here, like every command's own stack, so other commands do not load it.
    from webhook.policytest.junit import render_junit
    from webhook.policytest.report import render_text
    from webhook.policytest.runner import run_tests

    report = run_tests(arguments.paths or [DEFAULT_PATH], today=datetime.now(UTC).date())
    sys.stdout.write(render_text(report))
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    if arguments.junit:
        try:
            Path(arguments.junit).write_bytes(render_junit(report))
        except OSError as error:
            print(f"error: cannot write {arguments.junit}: {error.strerror}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return report.exit_code
