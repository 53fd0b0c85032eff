"""The GitLab security report of `check` (SAST report format, schema 15), for the
`artifacts:reports:sast` of a GitLab CI job: one vulnerability per failed finding."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from webhook import __version__
from webhook.dryrun import CheckReport, ObjectResult
from webhook.findings import Finding, Mode
from webhook.policy.exceptions import describe_expired
from webhook.report.options import RenderOptions
from webhook.report.sarif import rule_id

SCHEMA_VERSION = "15.0.7"
SEVERITIES = {Mode.ENFORCE: "High", Mode.WARN: "Medium", Mode.AUDIT: "Low"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
MAX_NAME = 255
ID_NAMESPACE = uuid.UUID("5b6c1f0e-7c52-4f61-9d8e-2b1f3a9e6c47")  # this format's own namespace
TOOL = {
    "id": "policy-webhook",
    "name": "policy-webhook",
    "version": __version__,
    "vendor": {"name": "policy-webhook"},
}

JSONObject = dict[str, Any]


def render_gitlab_sast(report: CheckReport, options: RenderOptions) -> str:
    """The report as GitLab SAST JSON; scan times come from `options` (epoch when unset)."""
    summaries = {
        rule_id(policy.name, rule.name): rule.summary
        for policy in options.policies.policies
        for rule in policy.rules
    }
    vulnerabilities = [
        _vulnerability(result, finding, summaries, options)
        for result in report.objects
        for finding in result.failures
    ]
    messages = [
        {"level": "fatal", "value": f"{error.file}: {error.reason}"} for error in report.errors
    ] + [
        {"level": "warn", "value": describe_expired(exception)}
        for exception in report.expired_exceptions
    ]
    started, finished = options.started, options.finished
    scan: JSONObject = {
        "analyzer": TOOL,
        "scanner": TOOL,
        "type": "sast",
        "start_time": started.strftime(TIME_FORMAT) if started else "1970-01-01T00:00:00",
        "end_time": finished.strftime(TIME_FORMAT) if finished else "1970-01-01T00:00:00",
        "status": "failure" if report.errors else "success",
        "messages": messages,
    }
    document = {"version": SCHEMA_VERSION, "scan": scan, "vulnerabilities": vulnerabilities}
    return msgspec.json.format(msgspec.json.encode(document)).decode() + "\n"


def _vulnerability(
    result: ObjectResult, finding: Finding, summaries: dict[str, str], options: RenderOptions
) -> JSONObject:
    ref = result.ref
    identifier = rule_id(finding.policy, finding.rule)
    summary = summaries.get(identifier) or f"Rule {finding.rule} of policy {finding.policy}"
    field = f" (field {finding.path})" if finding.path else ""
    manifest = result.manifest
    container = finding.container or ""
    stable = "\0".join(
        (identifier, ref.api_version, ref.kind, ref.namespace, ref.name, finding.path, container)
    )
    return {
        "id": str(uuid.uuid5(ID_NAMESPACE, stable)),
        "name": f"{identifier}: {summary}"[:MAX_NAME],
        "description": f"{ref}: {finding.message}{field}",
        "severity": SEVERITIES[finding.mode],
        "solution": finding.message,
        "location": {
            "file": options.relative(manifest.file) or manifest.file,
            "start_line": manifest.line_of(finding.path),
        },
        "identifiers": [
            {
                "type": "policy_webhook_rule",
                "name": f"policy-webhook {identifier}",
                "value": identifier,
            }
        ],
    }
