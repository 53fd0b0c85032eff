"""The engine: one request and a PolicySet in, findings out. Pure: no clock, env, files or network.

`check` and the webhook both call `evaluate`, so a verdict in CI is the verdict in the cluster.
Rules that need I/O (image signatures) name it with `plan_lookups`; `evaluate_with_lookups`
awaits a Verifier for those answers (the engine's one await) and then evaluates purely.
With `UnknownLabels` for the namespace, a rule whose selection depends on them is run anyway:
passing, it passes; failing, it is an ERROR naming the reason (fail closed in enforce mode).
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping, Sequence
from datetime import date
from types import MappingProxyType
from typing import Any

from webhook.checks.base import EvaluationContext
from webhook.findings import Finding, Findings, Mode, Result, Violation
from webhook.messages import format_message
from webhook.policy.compiled import CompiledPolicy, CompiledRule, PolicySet
from webhook.policy.exceptions import apply_exceptions
from webhook.policy.matching import Match, UnknownLabels
from webhook.review import AdmissionRequest
from webhook.signatures.api import Outcome, SignatureRequest, SignatureResult, Verifier
from webhook.workload import POD_KINDS, pod_view

_NO_LABELS: Mapping[str, str] = {}
_NO_LOOKUPS: Mapping[Any, Any] = MappingProxyType({})  # read-only: shared by every request
LOOKUP_GRACE = 0.25  # seconds past a verifier's deadline before the engine stops waiting
# Enum members read once: each read from the class goes through its metaclass's __getattr__
# hook (about 70 ns on CPython 3.11, against 8 for a module global).
_YES, _UNKNOWN = Match.YES, Match.UNKNOWN
_FAIL, _ERROR, _OVERRIDDEN = Result.FAIL, Result.ERROR, Result.OVERRIDDEN


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
    # Positional: a Struct built from keywords costs several times more.
    return EvaluationContext(
        request, group, kind, subject, pod, labels, offline, lookups or _NO_LOOKUPS
    )


def policy_match(policy: CompiledPolicy, context: EvaluationContext) -> Match:
    """Whether the policy's match block selects the request and its exclude block does not."""
    request, group, kind, labels = (
        context.request,
        context.group,
        context.kind,
        context.namespace_labels,
    )
    selected = policy.match.decide(request, group, kind, labels)
    if selected is Match.NO or policy.exclude is None or policy.exclude.empty:
        return selected
    excluded = policy.exclude.decide(request, group, kind, labels)
    return selected if excluded is Match.NO else selected & ~excluded


def selected_policies(
    context: EvaluationContext, policies: PolicySet
) -> Sequence[tuple[CompiledPolicy, Match]]:
    """The policies that select the request (YES) or may select it (UNKNOWN), in order."""
    request = context.request
    selection = policies.selection(
        context.group, context.kind, request.operation, request.subResource
    )
    if selection is not None:
        return selection.select(request.namespace)
    selected: list[tuple[CompiledPolicy, Match]] = []
    for policy in policies.candidates(context.kind, request.operation):
        state = policy_match(policy, context)
        if state is not Match.NO:
            selected.append((policy, state))
    return selected


def matching_policies(context: EvaluationContext, policies: PolicySet) -> list[CompiledPolicy]:
    """The policies that certainly select the request (those that may are left out)."""
    return [policy for policy, state in selected_policies(context, policies) if state is Match.YES]


def rule_match(rule: CompiledRule, context: EvaluationContext) -> Match:
    """Whether the rule's own match/exclude and its check's scope select this object."""
    if (rule.check.pod_only and context.pod is None) or (
        rule.check.offline_only and not context.offline
    ):
        return Match.NO
    request, group, kind, labels = (
        context.request,
        context.group,
        context.kind,
        context.namespace_labels,
    )
    selected = Match.YES if rule.match is None else rule.match.decide(request, group, kind, labels)
    if selected is Match.NO or rule.exclude is None or rule.exclude.empty:
        return selected
    return selected & ~rule.exclude.decide(request, group, kind, labels)


def rule_applies(rule: CompiledRule, context: EvaluationContext) -> bool:
    """Whether the rule certainly applies to this object."""
    return rule_match(rule, context) is Match.YES


def evaluate_rule(
    policy: CompiledPolicy,
    rule: CompiledRule,
    context: EvaluationContext,
    *,
    selected: Match = Match.YES,
) -> list[Finding]:
    """One rule on one object: a PASS or SKIP finding, or one finding per violation.

    `selected` is whether the policy selects the request; when that or the rule's own match
    is UNKNOWN, violations become ERROR findings that say why (the verdict needs the labels).
    """
    applies = selected & rule_match(rule, context)
    if applies is Match.NO:
        return [_outcome(policy.name, rule.name, rule.mode, Result.SKIP)]
    violations = rule.check.run(context)
    if not violations:
        return [_outcome(policy.name, rule.name, rule.mode, Result.PASS)]
    return _violation_findings(policy, rule, violations, context, applies)


def _violation_findings(
    policy: CompiledPolicy,
    rule: CompiledRule,
    violations: Sequence[Violation],
    context: EvaluationContext,
    applies: Match,
) -> list[Finding]:
    """One finding per violation of a rule that applies (YES) or may apply (UNKNOWN)."""
    unknown = context.namespace_labels if applies is _UNKNOWN else None
    template = rule.message
    findings = []
    for violation in violations:
        # (inline: a failing rule may report a violation for every container)
        if violation.overridden:
            result = _OVERRIDDEN
        else:
            result = _ERROR if violation.error else _FAIL
        message = violation.message
        if template is not None:
            message = format_message(
                template, context, container=violation.container, detail=message
            )
        # (UnknownLabels is a Mapping: isinstance goes through the ABC's hook; None is quick)
        if unknown is not None and isinstance(unknown, UnknownLabels) and result is not _OVERRIDDEN:
            # Applying, the rule denies; not applying, it admits: the labels decide.
            result = _ERROR
            message = (
                f"cannot tell whether this rule applies: {unknown.describe()}; "
                f"if it applies, it fails: {message}"
            )
        findings.append(
            Finding(
                policy=policy.name,
                rule=rule.name,
                mode=rule.mode,
                result=result,
                message=message,
                path=violation.path,
                container=violation.container,
            )
        )
    return findings


@functools.lru_cache(maxsize=16384)
def _outcome(policy: str, rule: str, mode: Mode, result: Result) -> Finding:
    """The PASS or SKIP finding of a rule: immutable, so one instance serves every request."""
    return Finding(policy, rule, mode, result)


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
    The findings are `Findings`, `quiet` when every one is a PASS or SKIP, unless exceptions
    waived some (a plain list then).
    """
    if not policies.candidates(request.kind.kind, request.operation):
        return []
    context = build_context(
        request, namespace_labels=namespace_labels, offline=offline, lookups=lookups
    )
    findings = Findings()
    quiet = True  # no finding but PASS and SKIP so far
    pod = context.pod
    append = findings.append
    for policy, selected in selected_policies(context, policies):
        if selected is not _YES:
            quiet = False
            for rule in policy.rules:
                findings.extend(evaluate_rule(policy, rule, context, selected=selected))
            continue
        pod_runs = policy.pod_runs
        if pod_runs is not None:  # every rule a check of the pod view alone: the same, quicker
            if pod is None:
                findings.extend(policy.skipped)
                continue
            # Most pods pass every check: then the policy's PASS findings, all at once; else
            # those before the first failing check, and each rule from there on (its position
            # looked up then: most pods never need it).
            for run in pod_runs:
                violations = run[0](pod)
                if violations:
                    break
            else:
                findings.extend(policy.passed)
                continue
            quiet = False
            position = pod_runs.index(run)
            findings.extend(policy.passed[:position])
            findings.extend(_violation_findings(policy, run[2], violations, context, _YES))
            for check_pod, passed, rule in pod_runs[position + 1 :]:
                violations = check_pod(pod)
                if violations:
                    findings.extend(_violation_findings(policy, rule, violations, context, _YES))
                else:
                    append(passed)
            continue
        # The policy certainly selects the request: the same as `evaluate_rule` on each rule
        # with `selected=Match.YES`, where a rule without a match or exclude block of its own
        # costs only its check's scope and its run (inline: this runs for every rule).
        for plan in policy.plans:
            run_pod = plan.run_pod
            if run_pod is not None:
                if pod is None:
                    append(plan.skipped)
                    continue
                violations = run_pod(pod)
            elif plan.run is not None:
                if plan.pod_only and pod is None:
                    append(plan.skipped)
                    continue
                violations = plan.run(context)
            else:
                quiet = False
                findings.extend(evaluate_rule(policy, plan.rule, context))
                continue
            if violations:
                quiet = False
                findings.extend(_violation_findings(policy, plan.rule, violations, context, _YES))
            else:
                append(plan.passed)
    findings.quiet = quiet
    if today is not None and policies.exceptions:
        return apply_exceptions(findings, policies.exceptions, context, today=today)
    return findings


def plan_lookups(context: EvaluationContext, policies: PolicySet) -> list[Hashable]:
    """What the matching rules need answered by I/O (signature requests), without duplicates."""
    wanted: dict[Hashable, None] = {}
    # Rules that may apply (unknown namespace labels) are run too, so they need their answers.
    for policy, selected in selected_policies(context, policies):
        for rule in policy.rules:
            if (
                rule.check.lookups is not None
                and (selected & rule_match(rule, context)) is not Match.NO
            ):
                wanted.update(dict.fromkeys(rule.check.lookups(context)))
    return list(wanted)


async def gather_lookups(
    request: AdmissionRequest,
    policies: PolicySet,
    *,
    verifier: Verifier,
    timeout: float,
    namespace_labels: Mapping[str, str] | None = None,
    offline: bool = False,
) -> dict[Any, Any]:
    """The verifier's answers to what the matching rules need (for `evaluate` and pinning)."""
    if not policies.candidates(request.kind.kind, request.operation):
        return {}
    context = build_context(request, namespace_labels=namespace_labels, offline=offline)
    wanted = [
        item for item in plan_lookups(context, policies) if isinstance(item, SignatureRequest)
    ]
    return await ask_verifier(verifier, wanted, timeout=timeout) if wanted else {}


async def evaluate_with_lookups(
    request: AdmissionRequest,
    policies: PolicySet,
    *,
    verifier: Verifier,
    timeout: float,
    namespace_labels: Mapping[str, str] | None = None,
    offline: bool = False,
    today: date | None = None,
) -> list[Finding]:
    """`evaluate` after the verifier answered the rules' lookups within `timeout` seconds.

    Whatever the verifier has not answered by then fails its rule as not verified (fail closed).
    """
    lookups = await gather_lookups(
        request,
        policies,
        verifier=verifier,
        timeout=timeout,
        namespace_labels=namespace_labels,
        offline=offline,
    )
    return evaluate(
        request,
        policies,
        namespace_labels=namespace_labels,
        offline=offline,
        lookups=lookups,
        today=today,
    )


async def ask_verifier(
    verifier: Verifier, wanted: Sequence[SignatureRequest], *, timeout: float
) -> dict[Any, Any]:
    """An answer for every request: the verifier's, or TIMED_OUT when it had none in time."""
    import asyncio  # here: `check` without signature rules never loads it

    # The verifier keeps its own deadline; this bound only stops one that does not.
    try:
        async with asyncio.timeout(timeout + LOOKUP_GRACE):
            answers = await verifier.verify(wanted, timeout=timeout)
    except TimeoutError:
        answers = {}
    late = SignatureResult(Outcome.TIMED_OUT, detail=f"no answer within {timeout:g}s")
    return {request: answers.get(request, late) for request in wanted}
