"""PolicyExceptions: compiled at load, checked against the policies, applied to failed rules; pure.

An exception waives named rules for the objects its match block selects until its expiry date
(inclusive). It comes only from a document in the policies directory, never from the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import msgspec

from webhook.checks.base import EvaluationContext
from webhook.errors import PolicyLoadError
from webhook.findings import Finding, Result, Waiver
from webhook.policy.matching import Matcher, compile_match
from webhook.policy.model import PolicyExceptionDocument
from webhook.yamldoc import YAMLDocument


@dataclass(frozen=True, slots=True)
class WaivedTarget:
    policy: str
    rules: frozenset[str]  # empty: every rule of the policy
    line: int  # of the target in the exception's file
    rules_line: int


@dataclass(frozen=True, slots=True)
class CompiledException:
    name: str
    targets: tuple[WaivedTarget, ...]
    match: Matcher
    waiver: Waiver
    source: str  # file the exception came from
    line: int

    @property
    def expires(self) -> date:
        return self.waiver.expires

    def active(self, today: date) -> bool:
        """True through the expiry date itself; from the next day on the exception is expired."""
        return today <= self.waiver.expires

    def waives(self) -> list[str]:
        """`policy/rule` for every rule it waives (`policy/*` for every rule of a policy)."""
        return [
            f"{target.policy}/{rule}"
            for target in self.targets
            for rule in (sorted(target.rules) or ["*"])
        ]

    def covers(self, policy: str, rule: str) -> bool:
        return any(
            target.policy == policy and (not target.rules or rule in target.rules)
            for target in self.targets
        )


def compile_exception(
    document: PolicyExceptionDocument, source: YAMLDocument, file: Path
) -> CompiledException:
    """Compile a validated PolicyException document (which policies exist is checked later)."""
    spec = document.spec
    return CompiledException(
        name=document.metadata.name,
        targets=tuple(
            WaivedTarget(
                policy=target.name,
                rules=frozenset(target.rules),
                line=source.line_of(["spec", "policies", index]),
                rules_line=source.line_of(["spec", "policies", index, "rules"]),
            )
            for index, target in enumerate(spec.policies)
        ),
        # Like a policy's match: naming Pods also covers the pod template of workload kinds.
        match=compile_match(spec.match, policy_level=False, expand_pods=True),
        waiver=Waiver(
            exception=document.metadata.name,
            owner=spec.owner,
            reason=spec.reason,
            expires=spec.expiry,
            source=f"{file}:{source.line}",
        ),
        source=str(file),
        line=source.line,
    )


def unknown_targets(
    exceptions: Iterable[CompiledException], rules_by_policy: dict[str, Sequence[str]]
) -> list[PolicyLoadError]:
    """A load error for every policy or rule an exception names that does not exist."""
    errors: list[PolicyLoadError] = []
    for exception in exceptions:
        for target in exception.targets:
            rules = rules_by_policy.get(target.policy)
            if rules is None:
                errors.append(
                    PolicyLoadError(
                        exception.source,
                        target.line,
                        f"exception {exception.name!r} names policy {target.policy!r}, "
                        "which does not exist",
                    )
                )
                continue
            missing = sorted(target.rules.difference(rules))
            if missing:
                errors.append(
                    PolicyLoadError(
                        exception.source,
                        target.rules_line,
                        f"exception {exception.name!r} names rule(s) {', '.join(missing)} "
                        f"that policy {target.policy!r} does not have "
                        f"(its rules: {', '.join(rules) or 'none'})",
                    )
                )
    return errors


def duplicate_names(exceptions: Sequence[CompiledException]) -> list[PolicyLoadError]:
    seen: dict[str, CompiledException] = {}
    errors: list[PolicyLoadError] = []
    for exception in exceptions:
        earlier = seen.setdefault(exception.name, exception)
        if earlier is not exception:
            errors.append(
                PolicyLoadError(
                    exception.source,
                    exception.line,
                    f"duplicate exception name {exception.name!r} "
                    f"(also in {earlier.source}:{earlier.line})",
                )
            )
    return errors


def apply_exceptions(
    findings: list[Finding],
    exceptions: Sequence[CompiledException],
    context: EvaluationContext,
    *,
    today: date,
) -> list[Finding]:
    """Turn each failed finding that an active, matching exception covers into a WAIVED one."""
    if not any(finding.failed for finding in findings):
        return findings
    request = context.request
    applicable = [
        exception
        for exception in exceptions
        if exception.active(today)
        and exception.match.matches(request, context.group, context.kind, context.namespace_labels)
    ]
    if not applicable:
        return findings
    result: list[Finding] = []
    for finding in findings:
        waiver = (
            next(
                (e.waiver for e in applicable if e.covers(finding.policy, finding.rule)),
                None,
            )
            if finding.failed
            else None
        )
        result.append(
            finding
            if waiver is None
            else msgspec.structs.replace(finding, result=Result.WAIVED, waiver=waiver)
        )
    return result


def exception_counts(exceptions: Iterable[CompiledException], today: date) -> dict[str, int]:
    """How many exceptions are active and how many expired on `today` (for metrics and logs)."""
    counts = {"active": 0, "expired": 0}
    for exception in exceptions:
        counts["active" if exception.active(today) else "expired"] += 1
    return counts


def describe_expired(exception: CompiledException) -> str:
    """One line for people: which exception expired, when, and what it no longer waives."""
    waived = ", ".join(exception.waives())
    return (
        f"exception {exception.name} ({exception.source}:{exception.line}, owner "
        f"{exception.waiver.owner}) expired on {exception.expires.isoformat()}; "
        f"it no longer waives {waived}"
    )
