"""`policy-webhook diff`: what a policy change newly denies, admits and warns about."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from webhook.dryrun import EXIT_BAD_INPUT
from webhook.errors import PolicySetError
from webhook.gcpause import collector_paused
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.signatures.api import SkipVerification, Verifier
from webhook.signatures.ondemand import OnDemandRegistryVerifier

DEFAULT_SIGNATURE_TIMEOUT = 30.0

NAME = "diff"
HELP = "preview a policy change on manifests (exit 0 no new denials, 1 new denials, 2 bad input)"


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        NAME,
        help=HELP,
        description="Evaluate the same manifests (YAML or JSON files, directories, - for stdin, "
        "or a cluster export such as `kubectl get -A -o json`) with the base and the head "
        "policies, and report what the head newly denies, newly admits and newly warns about.",
    )
    parser.add_argument(
        "--base",
        action="append",
        required=True,
        metavar="PATH",
        help="policy file or directory before the change (repeatable)",
    )
    parser.add_argument(
        "--head",
        action="append",
        required=True,
        metavar="PATH",
        help="policy file or directory after the change (repeatable)",
    )
    from webhook.impact import RENDERERS  # the diff machinery, only for this command

    parser.add_argument("--output", "-o", choices=sorted(RENDERERS), default="text")
    parser.add_argument(
        "--skip-signatures",
        action="store_true",
        help="do not contact registries: imageSignatures rules are reported as not checked",
    )
    parser.add_argument(
        "--signature-timeout",
        type=float,
        default=DEFAULT_SIGNATURE_TIMEOUT,
        metavar="SECONDS",
        help="time for all image signature lookups together "
        f"(default: {DEFAULT_SIGNATURE_TIMEOUT:g})",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="manifest file, directory or -")
    parser.set_defaults(run=run)


def _load(paths: list[str], side: str) -> PolicySet | None:
    try:
        return load_policy_set(paths)
    except PolicySetError as error:
        for item in error.errors:
            print(f"error: invalid {side} policy: {item}", file=sys.stderr)
        return None


def run(arguments: argparse.Namespace) -> int:
    with collector_paused():
        return _run(arguments)


def _run(arguments: argparse.Namespace) -> int:
    from webhook.impact import RENDERERS, run_diff

    base = _load(arguments.base, "base")
    head = _load(arguments.head, "head")
    if base is None or head is None:
        return EXIT_BAD_INPUT
    timeout: float = arguments.signature_timeout
    verifier: Verifier = (
        SkipVerification()
        if arguments.skip_signatures
        else OnDemandRegistryVerifier(request_timeout=min(timeout, 10.0))
    )
    report = run_diff(
        arguments.paths,
        base=base,
        head=head,
        today=datetime.now(UTC).date(),
        verifier=verifier,
        timeout=timeout,
    )
    sys.stdout.write(RENDERERS[arguments.output](report))
    return report.exit_code
