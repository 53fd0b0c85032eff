"""Container security checks: non-root and read-only root filesystem; pure."""

from __future__ import annotations

from collections.abc import Sequence

from webhook.checks.base import CheckDefinition, EvaluationContext, NoParams, pod_check
from webhook.findings import Violation
from webhook.projection import VIEW_READS


def _effective(ctx_pod: dict[str, object], container: dict[str, object], key: str) -> object:
    """A container's securityContext setting overrides the pod's."""
    return container[key] if key in container else ctx_pod.get(key)


def check_non_root(ctx: EvaluationContext) -> Sequence[Violation]:
    assert ctx.pod is not None
    pod_context = ctx.pod.security_context
    violations = []
    for container in ctx.pod.containers:
        security = container.security_context
        run_as_user = _effective(pod_context, security, "runAsUser")
        run_as_non_root = _effective(pod_context, security, "runAsNonRoot")
        if run_as_user == 0:
            where = "runAsUser" in security
            violations.append(
                Violation(
                    message=f"{container.label} runs as root (runAsUser: 0): set "
                    "securityContext.runAsUser to a non-zero user id",
                    path=container.field_path("securityContext", "runAsUser")
                    if where
                    else ctx.pod.field_path("securityContext", "runAsUser"),
                    container=container.name,
                )
            )
        elif run_as_non_root is not True and not (
            isinstance(run_as_user, int) and not isinstance(run_as_user, bool) and run_as_user > 0
        ):
            violations.append(
                Violation(
                    message=f"{container.label} may run as root: set "
                    "securityContext.runAsNonRoot: true (or a non-zero runAsUser)",
                    path=container.field_path("securityContext", "runAsNonRoot"),
                    container=container.name,
                )
            )
    return violations


def check_read_only_root_filesystem(ctx: EvaluationContext) -> Sequence[Violation]:
    assert ctx.pod is not None
    return [
        Violation(
            message=f"{container.label} has a writable root filesystem: set "
            "securityContext.readOnlyRootFilesystem: true (mount an emptyDir where it writes)",
            path=container.field_path("securityContext", "readOnlyRootFilesystem"),
            container=container.name,
        )
        for container in ctx.pod.containers
        if container.security_context.get("readOnlyRootFilesystem") is not True
    ]


DEFINITIONS: list[CheckDefinition[NoParams]] = [
    CheckDefinition(
        name="nonRoot",
        params=NoParams,
        compile=pod_check(check_non_root, reads_managed_fields=False, pod_reads=VIEW_READS),
        summary="Every container runs as a non-root user (runAsNonRoot or a non-zero runAsUser).",
    ),
    CheckDefinition(
        name="readOnlyRootFilesystem",
        params=NoParams,
        compile=pod_check(
            check_read_only_root_filesystem, reads_managed_fields=False, pod_reads=VIEW_READS
        ),
        summary="Every container has securityContext.readOnlyRootFilesystem: true.",
    ),
]
