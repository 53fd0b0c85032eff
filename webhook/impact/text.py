"""The text form of an impact preview: one block per changed object, then a summary line."""

from __future__ import annotations

from webhook.findings import Finding
from webhook.impact.compare import Change, ImpactReport
from webhook.manifests import Manifest
from webhook.report.text import MODE_LABELS

LABELS = {
    Change.NEWLY_DENIED: "newly denied",
    Change.NEWLY_ADMITTED: "newly admitted",
    Change.DENIED_FOR_OTHER_REASONS: "still denied, by other rules",
    Change.NEWLY_WARNED: "newly warned",
    Change.UNCHANGED: "unchanged",
}


def summary_line(report: ImpactReport) -> str:
    counts = report.counts()
    return (
        f"{counts.newly_denied} newly denied, {counts.newly_admitted} newly admitted, "
        f"{counts.newly_warned} newly warned, {counts.denied_for_other_reasons} denied by other "
        f"rules; {counts.objects} objects in {counts.files} files "
        f"(denied: {counts.base_denied} by base, {counts.head_denied} by head); "
        f"{counts.errors} file errors"
    )


def _lines(sign: str, findings: tuple[Finding, ...], manifest: Manifest) -> list[str]:
    lines: list[str] = []
    for finding in findings:
        label = MODE_LABELS[finding.mode]
        lines.append(f"  {sign} {label} [{finding.policy}/{finding.rule}] {finding.message}")
        if finding.path:
            lines.append(f"      field {finding.path} (line {manifest.line_of(finding.path)})")
    return lines


def render_text(report: ImpactReport) -> str:
    """`+` marks what the head policies newly report, `-` what they no longer deny."""
    lines = [f"error: {error}" for error in report.errors]
    for impact in report.changes:
        manifest = impact.head.manifest
        where = f"{manifest.file}:{manifest.line}"
        lines.append(f"{LABELS[impact.change]}: {impact.head.ref} ({where})")
        lines.extend(_lines("+", impact.new_denials, manifest))
        lines.extend(_lines("-", impact.lifted_denials, manifest))
        lines.extend(_lines("+", impact.new_warnings, manifest))
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
