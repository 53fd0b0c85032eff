"""Custom rules written as CEL expressions, with ValidatingAdmissionPolicy variables; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webhook.cel import CELEvaluationError, CELProgram
from webhook.celast import walk
from webhook.checks.base import CompiledCheck, EvaluationContext
from webhook.findings import Violation
from webhook.messages import format_message
from webhook.policy.matching import KindPattern, UnknownLabels

NAMESPACE_VARIABLE = "namespaceObject"


def reads_variable(program: CELProgram, name: str) -> bool:
    """Whether the expression refers to the variable `name` anywhere."""
    return any(node.kind == "ident" and node.name == name for node in walk(program.tree))


def expression_check(
    program: CELProgram,
    message: str,
    explicit_kinds: tuple[KindPattern, ...],
    params: Mapping[str, Any],
) -> CompiledCheck:
    # oldObject is decoded only for programs that can read it (decided at compile time).
    reads_old = "oldObject" in program.source
    reads_namespace = reads_variable(program, NAMESPACE_VARIABLE)

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        labels = ctx.namespace_labels
        if reads_namespace and isinstance(labels, UnknownLabels):
            text = f"{format_message(message, ctx)} (not evaluated: {labels.describe()})"
            return [Violation(message=text, error=True)]
        # A rule written for Pods sees the pod template of a workload as a Pod.
        as_pod = (
            ctx.pod is not None
            and ctx.kind != "Pod"
            and bool(explicit_kinds)
            and not any(pattern.matches(ctx.group, ctx.kind) for pattern in explicit_kinds)
        )
        # Programs that read the same parts of the object share the activation that holds them.
        key = ("cel", as_pod, id(params) if params else None, reads_old, program.reads_key)
        activation = ctx.memo.get(key)
        if activation is None:
            variables = _variables(ctx, as_pod, params, reads_old)
            activation = ctx.memo[key] = program.activation(variables)
        try:
            passed = program.evaluate(activation)
        except CELEvaluationError as error:
            text = f"{format_message(message, ctx)} (expression could not be evaluated: {error})"
            return [Violation(message=text, error=True)]
        return [] if passed else [Violation(message=format_message(message, ctx))]

    return CompiledCheck(run=run, pod_only=False, reads_namespace_labels=reads_namespace)


def _variables(
    ctx: EvaluationContext, as_pod: bool, params: Mapping[str, Any], reads_old: bool
) -> dict[str, Any]:
    new = ctx.request.object
    old = ctx.request.oldObject if reads_old else None
    if as_pod and ctx.pod is not None and new is not None:
        new = ctx.pod.as_pod(ctx.request.namespace)
    request = ctx.memo.get("cel-request")
    if request is None:
        request = ctx.memo["cel-request"] = ctx.request.as_cel_value()
    return {
        "object": new,
        "oldObject": old,
        "request": request,
        "params": params,
        NAMESPACE_VARIABLE: {"metadata": {"labels": dict(ctx.namespace_labels)}},
    }
