"""`policy-webhook check`: the dry run for CI over rendered manifests."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webhook.dryrun import EXIT_BAD_INPUT, run_check
from webhook.errors import PolicySetError
from webhook.policy.loader import load_policy_set
from webhook.report import RENDERERS, RenderOptions

DEFAULT_POLICIES = "policies"


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "check",
        help="check manifests against the policies (exit 0 ok, 1 denied, 2 bad input)",
        description="Evaluate Kubernetes manifests (YAML or JSON files, directories, or - for "
        "stdin) with the same engine the webhook runs.",
    )
    parser.add_argument(
        "--policies",
        action="append",
        metavar="PATH",
        help=f"policy file or directory (repeatable; default: {DEFAULT_POLICIES}/)",
    )
    parser.add_argument("--output", "-o", choices=sorted(RENDERERS), default="text")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="manifest file, directory or -")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    try:
        policies = load_policy_set(arguments.policies or [DEFAULT_POLICIES])
    except PolicySetError as error:
        for item in error.errors:
            print(f"error: invalid policy: {item}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report = run_check(arguments.paths, policies, today=datetime.now(UTC).date())
    options = RenderOptions(policies=policies, base=Path.cwd())
    sys.stdout.write(RENDERERS[arguments.output](report, options))
    return report.exit_code
