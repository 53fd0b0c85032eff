"""`policy-webhook check`: the dry run for CI over rendered manifests."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from webhook.dryrun import EXIT_BAD_INPUT, run_check
from webhook.errors import PolicySetError
from webhook.gcpause import collector_paused
from webhook.policy.loader import load_policy_set
from webhook.report import RENDERERS, RenderOptions, annotation_lines
from webhook.signatures.api import Outcome, SignatureResult, SkipVerification, Verifier
from webhook.signatures.ondemand import OnDemandRegistryVerifier

DEFAULT_POLICIES = "policies"
DEFAULT_OUTPUT = "text"
DEFAULT_SIGNATURE_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """Everything `check` runs with, from its flags and the environment (read only here)."""

    policies: tuple[str, ...]
    paths: tuple[str, ...]
    output: str
    github_annotations: bool  # in GitHub Actions: annotations on stderr beside the report
    base: Path  # file names in SARIF and annotations are relative to this directory
    today: date  # exceptions expire by this date
    verify_signatures: bool  # ask registries; False: imageSignatures rules are not checked
    signature_timeout: float  # seconds for all signature lookups together

    @classmethod
    def from_arguments(
        cls, arguments: argparse.Namespace, *, environ: Mapping[str, str], cwd: Path
    ) -> CheckSettings:
        output = arguments.output or DEFAULT_OUTPUT
        in_actions = environ.get("GITHUB_ACTIONS") == "true"
        return cls(
            policies=tuple(arguments.policies or [DEFAULT_POLICIES]),
            paths=tuple(arguments.paths),
            output=output,
            github_annotations=in_actions and output != "github",
            base=cwd,
            today=datetime.now(UTC).date(),
            verify_signatures=not arguments.skip_signatures,
            signature_timeout=arguments.signature_timeout,
        )


NAME = "check"
HELP = "check manifests against the policies (exit 0 ok, 1 denied, 2 bad input)"


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        NAME,
        help=HELP,
        description="Evaluate Kubernetes manifests (YAML or JSON files, directories, or - for "
        "stdin) with the same engine the webhook runs. In GitHub Actions (GITHUB_ACTIONS=true) "
        "findings are also written to stderr as annotations.",
    )
    parser.add_argument(
        "--policies",
        action="append",
        metavar="PATH",
        help=f"policy file or directory (repeatable; default: {DEFAULT_POLICIES}/)",
    )
    parser.add_argument(
        "--output",
        "-o",
        choices=sorted(RENDERERS),
        default=None,
        help=f"report format on stdout (default: {DEFAULT_OUTPUT}); github prints annotations",
    )
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


def run(arguments: argparse.Namespace) -> int:
    settings = CheckSettings.from_arguments(arguments, environ=os.environ, cwd=Path.cwd())
    with collector_paused():
        return check(settings)


def check(settings: CheckSettings) -> int:
    try:
        policies = load_policy_set(settings.policies)
    except PolicySetError as error:
        for item in error.errors:
            print(f"error: invalid policy: {item}", file=sys.stderr)
        return EXIT_BAD_INPUT
    started = datetime.now(UTC)
    verifier: Verifier = (
        OnDemandRegistryVerifier(request_timeout=min(settings.signature_timeout, 10.0))
        if settings.verify_signatures
        else SkipVerification()
    )
    report = run_check(
        settings.paths,
        policies,
        today=settings.today,
        verifier=verifier,
        timeout=settings.signature_timeout,
    )
    note = signature_note(report.lookups.values())
    if note:
        print(note, file=sys.stderr)
    options = RenderOptions(
        policies=policies, base=settings.base, started=started, finished=datetime.now(UTC)
    )
    if settings.github_annotations:
        for line in annotation_lines(report, options):
            print(line, file=sys.stderr)
    sys.stdout.write(RENDERERS[settings.output](report, options))
    return report.exit_code


def signature_note(results: Iterable[SignatureResult]) -> str:
    """A line for stderr when image signatures were skipped or registries could not answer."""
    answers = list(results)
    skipped = sum(1 for result in answers if result.outcome is Outcome.NOT_CHECKED)
    if skipped:
        return (
            f"note: signatures of {skipped} image(s) were not verified (--skip-signatures); "
            "the webhook verifies them at admission"
        )
    failed = Counter(result.outcome.value for result in answers if result.outcome.retryable)
    if not failed:
        return ""
    reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(failed.items()))
    return (
        f"note: signatures of {sum(failed.values())} image(s) could not be verified ({reasons}); "
        "run check where the registries are reachable, or pass --skip-signatures to leave "
        "signature rules out"
    )
