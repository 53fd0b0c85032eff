"""Custom rules written as CEL expressions, with ValidatingAdmissionPolicy variables; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webhook.cel import CELEvaluationError, CELProgram
from webhook.checks.base import CompiledCheck, EvaluationContext
from webhook.findings import Violation
from webhook.messages import format_message
from webhook.policy.matching import KindPattern


def expression_check(
    program: CELProgram,
    message: str,
    explicit_kinds: tuple[KindPattern, ...],
    params: Mapping[str, Any],
) -> CompiledCheck:
    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        new, old = ctx.request.object, ctx.request.oldObject
        # A rule written for Pods sees the pod template of a workload as a Pod.
        if (
            ctx.pod is not None
            and ctx.kind != "Pod"
            and explicit_kinds
            and not any(pattern.matches(ctx.group, ctx.kind) for pattern in explicit_kinds)
        ):
            namespace = ctx.request.namespace
            new = ctx.pod.as_pod(namespace) if new is not None else None
        variables = {
            "object": new,
            "oldObject": old,
            "request": ctx.request.as_cel_value(),
            "params": params,
            "namespaceObject": {"metadata": {"labels": dict(ctx.namespace_labels)}},
        }
        try:
            passed = program.evaluate(variables)
        except CELEvaluationError as error:
            text = f"{format_message(message, ctx)} (expression could not be evaluated: {error})"
            return [Violation(message=text, error=True)]
        return [] if passed else [Violation(message=format_message(message, ctx))]

    return CompiledCheck(run=run, pod_only=False)
