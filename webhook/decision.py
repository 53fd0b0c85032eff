"""From findings to an admission decision: one function maps each mode to its effect; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import msgspec

from webhook.findings import Finding, Findings, Mode, Result

MAX_AUDIT_VALUE = 2048
# Enum members read once: each read from the class goes through its metaclass's __getattr__
# hook (about 70 ns on CPython 3.11, against 8 for a module global).
_PASS, _SKIP, _WAIVED, _OVERRIDDEN = Result.PASS, Result.SKIP, Result.WAIVED, Result.OVERRIDDEN
_FAIL, _ERROR = Result.FAIL, Result.ERROR
_ENFORCE, _WARN = Mode.ENFORCE, Mode.WARN


# A frozen msgspec Struct rather than a frozen dataclass: one is built per request, and a
# frozen dataclass pays an object.__setattr__ per field (as much as the rest of `decide`).
class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    denials: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    audits: tuple[Finding, ...] = ()
    waived: tuple[Finding, ...] = ()  # failures a PolicyException waived: recorded, never deny
    overrides: tuple[Finding, ...] = ()  # failures an authorized override (break-glass) admitted
    # Read-only: the decision of most requests is one shared instance (_ADMITS).
    audit_annotations: Mapping[str, str] = MappingProxyType({})

    def message(self) -> str:
        """One message listing every failed enforce rule, not just the first."""
        lines = [format_finding(finding) for finding in self.denials]
        count = len(lines)
        head = f"denied by policy-webhook ({count} violation{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"- {line}" for line in lines)])

    def warning_texts(self) -> list[str]:
        """What the user sees on admission: warn-mode failures and overridden ones."""
        return [format_finding(finding) for finding in (*self.warnings, *self.overrides)]


# The decision of most requests (nothing failed), built once; frozen, its mapping read-only.
_ADMITS = Decision(allowed=True)


def format_finding(finding: Finding) -> str:
    """`[policy/rule] message (field /spec/...)`: names the policy, rule, field and the fix."""
    where = f" (field {finding.path})" if finding.path else ""
    return f"[{finding.policy}/{finding.rule}] {finding.message}{where}"


def decide(findings: Sequence[Finding]) -> Decision:
    """Deny when any enforce-mode rule failed; warn, audit and waived findings never deny.

    An overridden finding (a break-glass change) never denies, whatever its mode: it becomes
    a warning for the user and an audit annotation for the cluster's audit log.
    """
    if isinstance(findings, Findings) and findings.quiet:  # (most requests)
        return _ADMITS
    denials: list[Finding] = []
    warnings: list[Finding] = []
    audits: list[Finding] = []
    waived: list[Finding] = []
    overrides: list[Finding] = []
    passed, skipped = _PASS, _SKIP
    for finding in findings:
        result = finding.result
        if result is passed or result is skipped:  # most findings: decided first
            continue
        if result is _WAIVED:
            waived.append(finding)
            continue
        if result is _OVERRIDDEN:
            overrides.append(finding)
            continue
        if result is not _FAIL and result is not _ERROR:  # not `finding.failed`
            continue
        mode = finding.mode
        if mode is _ENFORCE:
            denials.append(finding)
        elif mode is _WARN:
            warnings.append(finding)
        else:
            audits.append(finding)
    if not (denials or warnings or audits or waived or overrides):
        return _ADMITS
    texts: dict[str, list[str]] = {}  # annotation key -> its texts, in order
    for finding in (*audits, *waived, *overrides):
        waiver = finding.waiver
        prefix = "waived." if waiver is not None else ""
        text = format_finding(finding)
        if waiver is not None:
            text = f"{text}; {waiver.describe()}"
        texts.setdefault(f"{prefix}{finding.policy}.{finding.rule}"[:63], []).append(text)
    annotations = {key: "; ".join(parts)[:MAX_AUDIT_VALUE] for key, parts in texts.items()}
    return Decision(
        allowed=not denials,
        denials=tuple(denials),
        warnings=tuple(warnings),
        audits=tuple(audits),
        waived=tuple(waived),
        overrides=tuple(overrides),
        audit_annotations=annotations,
    )
