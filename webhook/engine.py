"""The engine: one request and a PolicySet in, findings out. Pure: no clock, env, files or network.

`check` and the webhook both call `evaluate`, so a verdict in CI is the verdict in the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from webhook.checks.base import EvaluationContext
from webhook.findings import Finding, Result
from webhook.messages import format_message
from webhook.policy.compiled import CompiledPolicy, CompiledRule, PolicySet
from webhook.policy.exceptions import apply_exceptions
from webhook.review import AdmissionRequest
from webhook.workload import POD_KINDS, pod_view

_NO_LABELS: Mapping[str, str] = {}


def build_context(
    request: AdmissionRequest,
    *,
    namespace_labels: Mapping[str, str] | None = None,
    offline: bool = False,
    lookups: Mapping[Any, Any] | None = None,
) -> EvaluationContext:
    """The evaluation context of `request`: its object, its pod view and its namespace's labels."""
    group, kind = request.kind.group, request.kind.kind
    subject = request.subject
    pod = pod_view(subject, group, kind) if kind in POD_KINDS else None
    labels = namespace_labels if namespace_labels is not None else _NO_LABELS
    if kind == "Namespace" and group == "":
        metadata = subject.get("metadata")
        own = metadata.get("labels") if isinstance(metadata, dict) else None
        labels = own if isinstance(own, dict) else _NO_LABELS
    return EvaluationContext(
        request=request,
        group=group,
        kind=kind,
        object=subject,
        old_object=request.oldObject,
        pod=pod,
        namespace_labels=labels,
        offline=offline,
        lookups=lookups or {},
    )


def matching_policies(context: EvaluationContext, policies: PolicySet) -> list[CompiledPolicy]:
    """The policies whose match block selects the request and whose exclude block does not."""
    request = context.request
    selected = []
    for policy in policies.candidates(context.kind, request.operation):
        if not policy.match.matches(request, context.group, context.kind, context.namespace_labels):
            continue
        if (
            policy.exclude is not None
            and not policy.exclude.empty
            and policy.exclude.matches(
                request, context.group, context.kind, context.namespace_labels
            )
        ):
            continue
        selected.append(policy)
    return selected


def evaluate_rule(
    policy: CompiledPolicy, rule: CompiledRule, context: EvaluationContext
) -> list[Finding]:
    """One rule on one object: a PASS or SKIP finding, or one finding per violation."""
    request = context.request
    if rule.match is not None and not rule.match.matches(
        request, context.group, context.kind, context.namespace_labels
    ):
        return [Finding(policy.name, rule.name, rule.mode, Result.SKIP)]
    if (
        rule.exclude is not None
        and not rule.exclude.empty
        and rule.exclude.matches(request, context.group, context.kind, context.namespace_labels)
    ):
        return [Finding(policy.name, rule.name, rule.mode, Result.SKIP)]
    if (rule.check.pod_only and context.pod is None) or (
        rule.check.offline_only and not context.offline
    ):
        return [Finding(policy.name, rule.name, rule.mode, Result.SKIP)]
    violations = rule.check.run(context)
    if not violations:
        return [Finding(policy.name, rule.name, rule.mode, Result.PASS)]
    return [
        Finding(
            policy=policy.name,
            rule=rule.name,
            mode=rule.mode,
            result=Result.ERROR if violation.error else Result.FAIL,
            message=_message(rule, violation.message, violation.container, context),
            path=violation.path,
            container=violation.container,
        )
        for violation in violations
    ]


def _message(
    rule: CompiledRule, detail: str, container: str | None, context: EvaluationContext
) -> str:
    if rule.message is None:
        return detail
    return format_message(rule.message, context, container=container, detail=detail)


def evaluate(
    request: AdmissionRequest,
    policies: PolicySet,
    *,
    namespace_labels: Mapping[str, str] | None = None,
    offline: bool = False,
    lookups: Mapping[Any, Any] | None = None,
    today: date | None = None,
) -> list[Finding]:
    """Evaluate every matching policy's rules on `request`; findings in policy and rule order.

    PolicyExceptions waive failures only when `today` (the caller's current UTC date) is given.
    """
    if not policies.candidates(request.kind.kind, request.operation):
        return []
    context = build_context(
        request, namespace_labels=namespace_labels, offline=offline, lookups=lookups
    )
    findings: list[Finding] = []
    for policy in matching_policies(context, policies):
        for rule in policy.rules:
            findings.extend(evaluate_rule(policy, rule, context))
    if today is not None and policies.exceptions:
        return apply_exceptions(findings, policies.exceptions, context, today=today)
    return findings
