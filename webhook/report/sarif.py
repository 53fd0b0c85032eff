"""The SARIF 2.1.0 report of `check`, for code-scanning views (GitHub, GitLab, Azure DevOps).

One run; the tool's rules are every rule of the loaded policies (`policy/rule`); each failed
finding is a result pointing at the manifest line of the offending field and at the object.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from webhook import __version__
from webhook.dryrun import CheckReport, ObjectResult
from webhook.errors import ManifestError
from webhook.findings import Finding, Mode
from webhook.manifests import STDIN
from webhook.policy.compiled import CompiledPolicy, CompiledRule
from webhook.report.options import RenderOptions

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
VERSION = "2.1.0"
SOURCE_ROOT = "SRCROOT"
LEVELS = {Mode.ENFORCE: "error", Mode.WARN: "warning", Mode.AUDIT: "note"}
# Characters kept as they are in a relative URI path (RFC 3986 pchar without ":", plus "/").
URI_SAFE = "/-._~!$&'()*+,;=@"

JSONObject = dict[str, Any]


def rule_id(policy: str, rule: str) -> str:
    return f"{policy}/{rule}"


def render_sarif(report: CheckReport, options: RenderOptions) -> str:
    """The report as a SARIF log (JSON text), valid against the SARIF 2.1.0 schema."""
    rules: list[JSONObject] = []
    index: dict[str, int] = {}
    for policy in options.policies.policies:
        for rule in policy.rules:
            index[rule_id(policy.name, rule.name)] = len(rules)
            rules.append(_rule_descriptor(policy, rule))
    results = [
        _result(result, finding, index, options)
        for result in report.objects
        for finding in result.failures
    ]
    run: JSONObject = {
        "tool": {
            "driver": {
                "name": "policy-webhook",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "originalUriBaseIds": {SOURCE_ROOT: {"uri": _directory_uri(options.base)}},
        "invocations": [
            {
                "executionSuccessful": not report.errors,
                "exitCode": report.exit_code,
                "toolExecutionNotifications": [
                    _notification(error, options) for error in report.errors
                ],
            }
        ],
        "results": results,
    }
    log = {"$schema": SCHEMA, "version": VERSION, "runs": [run]}
    return msgspec.json.format(msgspec.json.encode(log)).decode() + "\n"


def _rule_descriptor(policy: CompiledPolicy, rule: CompiledRule) -> JSONObject:
    summary = rule.summary or f"Rule {rule.name} of policy {policy.name}."
    description = policy.description or summary
    full = f"{description} Rule {rule.name}: {summary}" if policy.description else summary
    help_text = (
        f"{summary}\n\nPolicy {policy.name} (mode {rule.mode.value}), rule {rule.name} "
        f"({rule.check_name}), defined in {policy.source}:{policy.line}. "
        "Change the object as the result's message says, or waive the rule for it with a "
        "reviewed PolicyException."
    )
    help_markdown = (
        f"{summary}\n\n| policy | rule | check | mode |\n|---|---|---|---|\n"
        f"| `{policy.name}` | `{rule.name}` | `{rule.check_name}` | {rule.mode.value} |\n\n"
        "Change the object as the result's message says, or waive the rule for it with a "
        "reviewed `PolicyException`."
    )
    return {
        "id": rule_id(policy.name, rule.name),
        "name": rule.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": LEVELS[rule.mode]},
        "properties": {
            "policy": policy.name,
            "check": rule.check_name,
            "mode": rule.mode.value,
            "tags": ["kubernetes", "policy-webhook", rule.check_name],
        },
    }


def _result(
    result: ObjectResult, finding: Finding, index: dict[str, int], options: RenderOptions
) -> JSONObject:
    ref = result.ref
    identifier = rule_id(finding.policy, finding.rule)
    text = finding.message or f"{identifier} failed"
    if finding.path:
        text = f"{text} (field {finding.path})"
    qualified = "/".join(part for part in (ref.kind, ref.namespace, ref.name) if part)
    location: JSONObject = {
        "logicalLocations": [
            {"name": ref.name or "(unnamed)", "fullyQualifiedName": qualified, "kind": "resource"}
        ]
    }
    physical = _physical_location(
        result.manifest.file, result.manifest.line_of(finding.path), options
    )
    if physical is not None:
        location["physicalLocation"] = physical
    entry: JSONObject = {
        "ruleId": identifier,
        "level": LEVELS[finding.mode],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"policyWebhookFinding/v1": _fingerprint(result, finding)},
        "properties": {
            "mode": finding.mode.value,
            "result": finding.result.value,
            "path": finding.path,
            "container": finding.container,
            "object": {
                "apiVersion": ref.api_version,
                "kind": ref.kind,
                "namespace": ref.namespace,
                "name": ref.name,
            },
            "document": result.manifest.document,
        },
    }
    if identifier in index:
        entry["ruleIndex"] = index[identifier]
    return entry


def _fingerprint(result: ObjectResult, finding: Finding) -> str:
    """Stable across edits that move lines: the rule, the object and the field."""
    ref = result.ref
    parts = (
        finding.policy,
        finding.rule,
        ref.api_version,
        ref.kind,
        ref.namespace,
        ref.name,
        finding.path,
        finding.container or "",
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _physical_location(file: str, line: int | None, options: RenderOptions) -> JSONObject | None:
    if file == STDIN:
        return None
    relative = options.relative(file)
    artifact: JSONObject
    if relative is not None:
        artifact = {"uri": quote(relative, safe=URI_SAFE), "uriBaseId": SOURCE_ROOT}
    else:
        artifact = {"uri": Path(file).absolute().as_uri()}
    location: JSONObject = {"artifactLocation": artifact}
    if line is not None and line >= 1:
        location["region"] = {"startLine": line}
    return location


def _notification(error: ManifestError, options: RenderOptions) -> JSONObject:
    notification: JSONObject = {
        "level": "error",
        "message": {"text": f"{error.file}: {error.reason}"},
        "descriptor": {"id": "invalid-manifest"},
    }
    physical = _physical_location(error.file, error.line, options)
    if physical is not None:
        notification["locations"] = [{"physicalLocation": physical}]
    return notification


def _directory_uri(base: Path) -> str:
    uri = base.absolute().as_uri()
    return uri if uri.endswith("/") else f"{uri}/"
