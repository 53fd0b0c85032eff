"""Reports of `check`: text for people, JSON for tools; pure (returns strings)."""

from __future__ import annotations

from typing import Any

import msgspec

from webhook.dryrun import CheckReport, ObjectResult
from webhook.findings import Finding, Mode

MODE_LABELS = {Mode.ENFORCE: "DENY", Mode.WARN: "WARN", Mode.AUDIT: "AUDIT"}


def render_text(report: CheckReport) -> str:
    """Findings grouped by object; each names policy, rule, container, field and the fix."""
    lines: list[str] = []
    for error in report.errors:
        lines.append(f"error: {error}")
    for result in report.objects:
        failures = result.failures
        if not failures:
            continue
        manifest = result.manifest
        lines.append(f"{result.ref} ({manifest.file}:{manifest.line})")
        for finding in failures:
            lines.append(f"  {_text_line(finding)}")
            if finding.path:
                lines.append(f"      field {finding.path} (line {manifest.line_of(finding.path)})")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _text_line(finding: Finding) -> str:
    label = MODE_LABELS[finding.mode]
    if finding.result.value == "error":
        label = f"{label} (error)"
    return f"{label} [{finding.policy}/{finding.rule}] {finding.message}"


def summary_line(report: CheckReport) -> str:
    counts = {mode: 0 for mode in Mode}
    for result in report.objects:
        for finding in result.failures:
            counts[finding.mode] += 1
    failing = sum(1 for result in report.objects if result.failures)
    return (
        f"{len(report.objects)} objects in {report.files} files: "
        f"{failing} with findings; {counts[Mode.ENFORCE]} denied, {counts[Mode.WARN]} warnings, "
        f"{counts[Mode.AUDIT]} audit; {len(report.errors)} file errors"
    )


def finding_record(result: ObjectResult, finding: Finding) -> dict[str, Any]:
    ref = result.ref
    return {
        "policy": finding.policy,
        "rule": finding.rule,
        "mode": finding.mode.value,
        "result": finding.result.value,
        "message": finding.message,
        "path": finding.path,
        "container": finding.container,
        "object": {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "namespace": ref.namespace,
            "name": ref.name,
        },
        "source": {
            "file": result.manifest.file,
            "document": result.manifest.document,
            "line": result.manifest.line_of(finding.path),
        },
    }


def render_json(report: CheckReport) -> str:
    document = {
        "summary": {
            "objects": len(report.objects),
            "files": report.files,
            "denied": report.enforce_failures,
            "exitCode": report.exit_code,
        },
        "findings": [
            finding_record(result, finding)
            for result in report.objects
            for finding in result.findings
            if finding.failed
        ],
        "errors": [
            {"file": error.file, "line": error.line, "reason": error.reason}
            for error in report.errors
        ],
    }
    return msgspec.json.format(msgspec.json.encode(document)).decode() + "\n"
