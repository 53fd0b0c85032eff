"""The text report of `check`, for people: findings grouped by object, then a summary line."""

from __future__ import annotations

from webhook.dryrun import CheckReport
from webhook.findings import Finding, Mode, Result
from webhook.policy.exceptions import describe_expired
from webhook.report.options import RenderOptions

MODE_LABELS = {Mode.ENFORCE: "DENY", Mode.WARN: "WARN", Mode.AUDIT: "AUDIT"}
WAIVED_LABEL = "WAIVED"


def render_text(report: CheckReport, options: RenderOptions) -> str:
    """Findings grouped by object; each names policy, rule, container, field and the fix."""
    del options  # file names are shown as given on the command line
    lines: list[str] = []
    for error in report.errors:
        lines.append(f"error: {error}")
    for exception in report.expired_exceptions:
        lines.append(f"warning: {describe_expired(exception)}")
    for result in report.objects:
        shown = [f for f in result.findings if f.failed or f.result is Result.WAIVED]
        if not shown:
            continue
        manifest = result.manifest
        lines.append(f"{result.ref} ({manifest.file}:{manifest.line})")
        for finding in shown:
            lines.append(f"  {_text_line(finding)}")
            if finding.path:
                lines.append(f"      field {finding.path} (line {manifest.line_of(finding.path)})")
            if finding.waiver is not None:
                lines.append(f"      {finding.waiver.describe()}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _text_line(finding: Finding) -> str:
    label = WAIVED_LABEL if finding.result is Result.WAIVED else MODE_LABELS[finding.mode]
    if finding.result is Result.ERROR:
        label = f"{label} (error)"
    return f"{label} [{finding.policy}/{finding.rule}] {finding.message}"


def summary_line(report: CheckReport) -> str:
    counts = {mode: 0 for mode in Mode}
    for result in report.objects:
        for finding in result.failures:
            counts[finding.mode] += 1
    failing = sum(1 for result in report.objects if result.failures)
    waived = sum(len(result.waived) for result in report.objects)
    expired = len(report.expired_exceptions)
    return (
        f"{len(report.objects)} objects in {report.files} files: "
        f"{failing} with findings; {counts[Mode.ENFORCE]} denied, {counts[Mode.WARN]} warnings, "
        f"{counts[Mode.AUDIT]} audit, {waived} waived; {len(report.errors)} file errors"
        + (f"; {expired} expired exceptions" if expired else "")
    )
