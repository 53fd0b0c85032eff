"""The JSON report of `check`, for tools: a summary, every failed finding, every file error."""

from __future__ import annotations

from typing import Any

import msgspec

from webhook.dryrun import CheckReport, ObjectResult
from webhook.findings import Finding, Result
from webhook.report.options import RenderOptions


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
        "waiver": _waiver_record(finding),
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


def _waiver_record(finding: Finding) -> dict[str, str] | None:
    waiver = finding.waiver
    if waiver is None:
        return None
    return {
        "exception": waiver.exception,
        "owner": waiver.owner,
        "reason": waiver.reason,
        "expires": waiver.expires.isoformat(),
        "source": waiver.source,
    }


def render_json(report: CheckReport, options: RenderOptions) -> str:
    del options  # file names are given as on the command line
    document = {
        "summary": {
            "objects": len(report.objects),
            "files": report.files,
            "denied": report.enforce_failures,
            "waived": sum(len(result.waived) for result in report.objects),
            "exitCode": report.exit_code,
        },
        "findings": [
            finding_record(result, finding)
            for result in report.objects
            for finding in result.findings
            if finding.failed or finding.result is Result.WAIVED
        ],
        "expiredExceptions": [
            {
                "name": exception.name,
                "owner": exception.waiver.owner,
                "reason": exception.waiver.reason,
                "expires": exception.expires.isoformat(),
                "file": exception.source,
                "line": exception.line,
            }
            for exception in report.expired_exceptions
        ],
        "errors": [
            {"file": error.file, "line": error.line, "reason": error.reason}
            for error in report.errors
        ],
    }
    return msgspec.json.format(msgspec.json.encode(document)).decode() + "\n"
