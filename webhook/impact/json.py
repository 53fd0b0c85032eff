"""The JSON form of an impact preview, for tools: counts, every changed object, file errors."""

from __future__ import annotations

from typing import Any

import msgspec

from webhook.dryrun import ObjectResult
from webhook.findings import Finding
from webhook.impact.compare import ImpactReport
from webhook.report.json import finding_record


def _records(result: ObjectResult, findings: tuple[Finding, ...]) -> list[dict[str, Any]]:
    records = []
    for finding in findings:
        record = finding_record(result, finding)
        del record["object"]  # given once per change
        records.append(record)
    return records


def render_json(report: ImpactReport) -> str:
    counts = report.counts()
    changes = []
    for impact in report.changes:
        ref, manifest = impact.head.ref, impact.head.manifest
        changes.append(
            {
                "change": impact.change.value,
                "object": {
                    "apiVersion": ref.api_version,
                    "kind": ref.kind,
                    "namespace": ref.namespace,
                    "name": ref.name,
                },
                "source": {
                    "file": manifest.file,
                    "document": manifest.document,
                    "line": manifest.line,
                },
                "allowed": {"base": impact.base_allowed, "head": impact.head_allowed},
                "newDenials": _records(impact.head, impact.new_denials),
                "liftedDenials": _records(impact.base, impact.lifted_denials),
                "newWarnings": _records(impact.head, impact.new_warnings),
            }
        )
    document = {
        "summary": {
            "objects": counts.objects,
            "files": counts.files,
            "newlyDenied": counts.newly_denied,
            "newlyAdmitted": counts.newly_admitted,
            "newlyWarned": counts.newly_warned,
            "deniedForOtherReasons": counts.denied_for_other_reasons,
            "deniedByBase": counts.base_denied,
            "deniedByHead": counts.head_denied,
            "exitCode": report.exit_code,
        },
        "changes": changes,
        "errors": [
            {"file": error.file, "line": error.line, "reason": error.reason}
            for error in report.errors
        ],
    }
    return msgspec.json.format(msgspec.json.encode(document)).decode() + "\n"
