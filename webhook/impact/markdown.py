"""The Markdown form of an impact preview, for a pull-request comment; pure.

Text from manifests and policies is escaped (it could otherwise inject Markdown, HTML or
mentions), and each section is capped so the comment stays within the size forges accept.
"""

from __future__ import annotations

import re

from webhook.dryrun import ObjectResult
from webhook.findings import Finding
from webhook.impact.compare import Change, ImpactReport, ObjectImpact
from webhook.impact.text import summary_line

MAX_ROWS = 40
MAX_CELL = 300
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")

SECTIONS = (
    (Change.NEWLY_DENIED, "Newly denied", "the head policies deny these; the base admits them"),
    (Change.NEWLY_ADMITTED, "Newly admitted", "the base denies these; the head admits them"),
    (Change.NEWLY_WARNED, "Newly warned", "admitted as before, with new warnings"),
    (
        Change.DENIED_FOR_OTHER_REASONS,
        "Still denied, by other rules",
        "denied by both, with rules added or lifted",
    ),
)


def escape(text: str) -> str:
    """Plain text for a table cell: no Markdown, HTML, mentions or line breaks."""
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "…"
    text = _SPECIAL.sub(r"\\\1", text).replace("@", "&#64;")
    return " ".join(text.split())


def _rows(
    impact: ObjectImpact, result: ObjectResult, verb: str, findings: tuple[Finding, ...]
) -> list[str]:
    manifest = result.manifest
    rows = []
    for finding in findings:
        where = f"{manifest.file}:{manifest.line_of(finding.path)}"
        detail = escape(finding.message)
        if finding.path:
            detail += f" (field {escape(finding.path)})"
        rows.append(
            f"| {escape(str(impact.head.ref))} | {escape(where)} | {verb} "
            f"| {escape(finding.policy)}/{escape(finding.rule)} | {detail} |"
        )
    return rows


def _section(report: ImpactReport, change: Change, title: str, hint: str) -> list[str]:
    impacts = [impact for impact in report.objects if impact.change is change]
    if not impacts:
        return []
    rows: list[str] = []
    for impact in impacts:
        rows.extend(_rows(impact, impact.head, "denies", impact.new_denials))
        rows.extend(_rows(impact, impact.base, "no longer denies", impact.lifted_denials))
        rows.extend(_rows(impact, impact.head, "warns", impact.new_warnings))
    lines = [
        f"#### {title} ({len(impacts)})",
        "",
        f"_{hint}_",
        "",
        "| Object | Source | Change | Policy/rule | Finding |",
        "| --- | --- | --- | --- | --- |",
        *rows[:MAX_ROWS],
    ]
    if len(rows) > MAX_ROWS:
        lines.append(
            f"\n_… and {len(rows) - MAX_ROWS} more rows: run `policy-webhook diff` "
            "for the full list._"
        )
    lines.append("")
    return lines


def render_markdown(report: ImpactReport) -> str:
    counts = report.counts()
    lines = ["### Policy change impact", "", f"**{escape(summary_line(report))}**", ""]
    for error in report.errors:
        lines.append(f"- file error: {escape(str(error))}")
    if report.errors:
        lines.append("")
    if not report.changes:
        lines.append("No object is denied, admitted or warned differently.")
        lines.append("")
    for change, title, hint in SECTIONS:
        lines.extend(_section(report, change, title, hint))
    verdict = (
        "This change denies objects that are admitted today."
        if counts.newly_denied
        else "This change denies no object that is admitted today."
    )
    lines.append(f"_{verdict}_")
    return "\n".join(lines) + "\n"
