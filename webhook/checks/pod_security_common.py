"""What the Pod Security Standards checks share: field reads, pod traits and violations; pure.

The checks follow Kubernetes' pod-security-admission (policy version v1.37). A field counts
as set when its key is present with a non-null value, as a Go pointer would be non-nil.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from webhook.checks.base import (
    CheckDefinition,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
    NoParams,
)
from webhook.findings import Violation
from webhook.projection import VIEW_READS, PodReads
from webhook.workload import Container, PodView, escape_pointer

JSONObject = dict[str, Any]
PodRun = Callable[[PodView], list[Violation]]

_EMPTY: JSONObject = {}
_ENCODER = msgspec.json.Encoder()


def show(value: Any) -> str:
    """A field value as JSON, the way it reads in a manifest."""
    try:
        return _ENCODER.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


def items(node: JSONObject, key: str) -> Sequence[Any]:
    """`node[key]` when it is a list, else an empty sequence."""
    value = node.get(key)
    return value if isinstance(value, list) else ()


def one_of(value: Any, allowed: frozenset[str]) -> bool:
    """Whether `value` is a string in `allowed` (any other type never is)."""
    return isinstance(value, str) and value in allowed


def quoted(values: Sequence[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


def pod_violation(path: str, problem: str, fix: str) -> Violation:
    """A violation of a pod-level field: `pod <problem>; <fix>` (the finding carries the path)."""
    return Violation(message=f"pod {problem}; {fix}", path=path)


def container_violation(container: Container, path: str, problem: str, fix: str) -> Violation:
    """A violation in one container: `<container label> <problem>; <fix>`."""
    return Violation(
        message=f"{container.label} {problem}; {fix}",
        path=path,
        container=container.name,
    )


def annotation_path(pod: PodView, key: str) -> str:
    return f"{pod.metadata_path}/annotations/{escape_pointer(key)}"


def definition(
    name: str, run: PodRun, summary: str, reads: PodReads = VIEW_READS
) -> CheckDefinition[NoParams]:
    """The registry entry of the control `podSecurity/<name>`; `reads` names what it reads of
    the pod spec and its containers beyond the pod view (tests watch that it reads no more)."""

    def run_check(ctx: EvaluationContext) -> list[Violation]:
        assert ctx.pod is not None  # pod checks run only on objects with a pod spec
        return run(ctx.pod)

    def compile_check(_: CompileInput[NoParams]) -> CompiledCheck:
        # A control reads the pod spec, its containers and annotations, never managedFields.
        return CompiledCheck(
            run=run_check, run_pod=run, reads_managed_fields=False, pod_reads=reads
        )

    return CheckDefinition(
        name=f"podSecurity/{name}", params=NoParams, compile=compile_check, summary=summary
    )


def check_security_context_values(
    pod: PodView,
    key: str,
    allowed: frozenset[str],
    *,
    what: str,
    fix: str,
) -> list[Violation]:
    """`securityContext.<key>.type` of the pod and each container must be one of `allowed`.

    Used by the seccomp and AppArmor controls: a profile that is set needs an allowed type.
    """
    violations = []
    profile = pod.security_context.get(key)
    if profile is not None:
        kind = profile.get("type", "") if isinstance(profile, dict) else ""
        if not one_of(kind, allowed):
            path = pod.field_path("securityContext", key, "type")
            violations.append(pod_violation(path, f"sets {what} type {show(kind)}", fix))
    if key not in pod.container_security_keys:
        return violations
    for container in pod.containers:
        profile = container.security_context.get(key)
        if profile is None:
            continue
        kind = profile.get("type", "") if isinstance(profile, dict) else ""
        if not (isinstance(kind, str) and kind in allowed):  # `one_of`, inline: per container
            path = container.field_path("securityContext", key, "type")
            violations.append(
                container_violation(container, path, f"sets {what} type {show(kind)}", fix)
            )
    return violations


def unmasked_proc_mounts(pod: PodView, *, fix: str) -> list[Violation]:
    """Containers whose securityContext.procMount is set to anything but Default."""
    violations: list[Violation] = []
    if "procMount" not in pod.container_security_keys:
        return violations
    for container in pod.containers:
        value = container.security_context.get("procMount")
        if value is not None and value != "Default":
            violations.append(
                container_violation(
                    container,
                    container.field_path("securityContext", "procMount"),
                    f"sets procMount {show(value)}",
                    fix,
                )
            )
    return violations
