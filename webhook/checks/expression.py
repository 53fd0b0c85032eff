"""Custom rules written as CEL expressions, with ValidatingAdmissionPolicy variables; pure."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from webhook.cel import Activation, CELEvaluationError, CELProgram
from webhook.celpaths import reaches
from webhook.checks.base import CompiledCheck, EvaluationContext
from webhook.checks.expression_group import ExpressionGroup, Inputs, sees_pod
from webhook.findings import Violation
from webhook.messages import format_message
from webhook.policy.matching import KindPattern, UnknownLabels

NAMESPACE_VARIABLE = "namespaceObject"
_Plan = tuple[bool, Inputs, Hashable]  # sees a Pod, what its activation holds, its memo key
MANAGED_FIELDS = ("metadata", "managedFields")


def expression_check(
    program: CELProgram,
    message: str,
    explicit_kinds: tuple[KindPattern, ...],
    params: Mapping[str, Any],
    group: ExpressionGroup | None = None,
) -> CompiledCheck:
    """The check of a CEL rule; `group` holds the other CEL rules of its policy set, with
    which it shares activations."""
    if group is None:
        group = ExpressionGroup()
    group.add(program, explicit_kinds)
    # Rules reading a whole object each keep their own activation, shared by equal reads.
    own = Inputs(program.reads, program.reads_key, shared=True)
    reads_namespace = NAMESPACE_VARIABLE in program.reads
    # Per group, kind and whether the object has a pod spec: whether the rule sees it as a
    # Pod, what its activation holds and the activation's key in the request's memo.
    plans = group.cache()

    def plan(ctx: EvaluationContext, has_pod: bool) -> _Plan:
        as_pod = sees_pod(explicit_kinds, ctx.group, ctx.kind, has_pod)
        # Only the variables read are built and bound (oldObject is decoded only when read),
        # pruned to what the rules sharing the activation read.
        inputs = group.inputs(program, (ctx.group, ctx.kind, has_pod, as_pod))
        if inputs is None:
            inputs = own
        reads_params = params and "params" in inputs.reads
        key = ("cel", as_pod, id(params) if reads_params else None, inputs.key)
        found = plans[(ctx.group, ctx.kind, has_pod)] = (as_pod, inputs, key)
        return found

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        if reads_namespace:
            labels = ctx.namespace_labels
            if isinstance(labels, UnknownLabels):
                text = f"{format_message(message, ctx)} (not evaluated: {labels.describe()})"
                return [Violation(message=text, error=True)]
        # A rule written for Pods sees the pod template of a workload as a Pod.
        has_pod = ctx.pod is not None
        found = plans.get((ctx.group, ctx.kind, has_pod))
        as_pod, inputs, key = plan(ctx, has_pod) if found is None else found
        activation = ctx.memo.get(key)
        if activation is None:
            variables = _variables(ctx, as_pod, params, inputs.reads)
            activation = Activation.of(variables, inputs.reads, shared=inputs.shared)
            ctx.memo[key] = activation
        try:
            passed = program.evaluate(activation)
        except CELEvaluationError as error:
            text = f"{format_message(message, ctx)} (expression could not be evaluated: {error})"
            return [Violation(message=text, error=True)]
        return [] if passed else [Violation(message=format_message(message, ctx))]

    return CompiledCheck(
        run=run,
        pod_only=False,
        reads_namespace_labels=reads_namespace,
        reads_managed_fields="object" in program.reads
        and reaches(program.reads["object"], MANAGED_FIELDS),
    )


def _variables(
    ctx: EvaluationContext, as_pod: bool, params: Mapping[str, Any], names: Iterable[str]
) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for name in names:
        if name == "object":
            new = ctx.request.object
            if as_pod and ctx.pod is not None and new is not None:
                new = ctx.pod.as_pod(ctx.request.namespace)
            variables[name] = new
        elif name == "oldObject":
            variables[name] = ctx.request.oldObject
        elif name == "request":
            request = ctx.memo.get("cel-request")
            if request is None:
                request = ctx.memo["cel-request"] = ctx.request.as_cel_value()
            variables[name] = request
        elif name == "params":
            variables[name] = params
        elif name == NAMESPACE_VARIABLE:
            variables[name] = {"metadata": {"labels": dict(ctx.namespace_labels)}}
    return variables
