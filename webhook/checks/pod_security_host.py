"""Pod Security Standards, baseline level (v1.37): the controls on host access; pure.

Host namespaces, privileged containers, hostPath volumes, host ports, probe and lifecycle
hosts and Windows HostProcess, each mirroring pod-security-admission's check of that name.
"""

from __future__ import annotations

from webhook.checks.base import CheckDefinition, NoParams
from webhook.checks.pod_security_common import (
    child,
    container_violation,
    definition,
    items,
    pod_violation,
    show,
)
from webhook.findings import Violation
from webhook.workload import PodView

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HANDLERS = ("postStart", "preStop")
HOST_ACTIONS = ("httpGet", "tcpSocket")


def host_namespaces(pod: PodView) -> list[Violation]:
    return [
        pod_violation(
            pod.field_path(key), f"shares a host namespace ({key}: true)", "remove it or set false"
        )
        for key in HOST_NAMESPACES
        if pod.spec.get(key) is True
    ]


def privileged(pod: PodView) -> list[Violation]:
    return [
        container_violation(
            container,
            container.field_path("securityContext", "privileged"),
            "runs privileged (securityContext.privileged: true)",
            "remove it or set false",
        )
        for container in pod.containers
        if container.security_context.get("privileged") is True
    ]


def host_path_volumes(pod: PodView) -> list[Violation]:
    return [
        pod_violation(
            pod.field_path("volumes", str(index), "hostPath"),
            f"mounts a hostPath volume {show(volume.get('name'))}",
            "use another volume type (emptyDir, configMap, secret, a persistentVolumeClaim, ...)",
        )
        for index, volume in enumerate(items(pod.spec, "volumes"))
        if isinstance(volume, dict) and volume.get("hostPath") is not None
    ]


def host_ports(pod: PodView) -> list[Violation]:
    violations = []
    for container in pod.containers:
        for index, port in enumerate(items(container.spec, "ports")):
            host_port = port.get("hostPort") if isinstance(port, dict) else None
            if host_port is not None and host_port != 0:
                violations.append(
                    container_violation(
                        container,
                        container.field_path("ports", str(index), "hostPort"),
                        f"uses hostPort {show(host_port)}",
                        "remove it or set 0 (reach the pod through a Service)",
                    )
                )
    return violations


def windows_host_process(pod: PodView) -> list[Violation]:
    fix = "remove it or set false"
    violations = []
    if child(pod.security_context, "windowsOptions").get("hostProcess") is True:
        violations.append(
            pod_violation(
                pod.field_path("securityContext", "windowsOptions", "hostProcess"),
                "runs Windows HostProcess containers (hostProcess: true)",
                fix,
            )
        )
    violations.extend(
        container_violation(
            container,
            container.field_path("securityContext", "windowsOptions", "hostProcess"),
            "is a Windows HostProcess container (hostProcess: true)",
            fix,
        )
        for container in pod.containers
        if child(container.security_context, "windowsOptions").get("hostProcess") is True
    )
    return violations


def host_probes_and_host_lifecycle(pod: PodView) -> list[Violation]:
    violations = []
    for container in pod.containers:
        spec = container.spec
        handlers = [(probe, child(spec, probe)) for probe in PROBES]
        lifecycle = child(spec, "lifecycle")
        handlers += [(f"lifecycle/{name}", child(lifecycle, name)) for name in LIFECYCLE_HANDLERS]
        for where, handler in handlers:
            if not handler:
                continue
            for action in HOST_ACTIONS:
                host = child(handler, action).get("host")
                if host is not None and host != "":
                    path = container.field_path(*where.split("/"), action, "host")
                    violations.append(
                        container_violation(
                            container,
                            path,
                            f"sends its {where.replace('/', ' ')} {action} to host {show(host)}",
                            "remove host (the check then targets the pod's own IP)",
                        )
                    )
    return violations


DEFINITIONS: list[CheckDefinition[NoParams]] = [
    definition(
        "hostNamespaces",
        host_namespaces,
        "Baseline: the pod shares no host namespace (hostNetwork, hostPID, hostIPC unset or "
        "false).",
    ),
    definition(
        "privileged",
        privileged,
        "Baseline: no container is privileged (securityContext.privileged unset or false).",
    ),
    definition(
        "hostPathVolumes", host_path_volumes, "Baseline: the pod mounts no hostPath volume."
    ),
    definition(
        "hostPorts", host_ports, "Baseline: no container port sets a hostPort (unset or 0)."
    ),
    definition(
        "windowsHostProcess",
        windows_host_process,
        "Baseline: no Windows HostProcess containers (windowsOptions.hostProcess unset or false).",
    ),
    definition(
        "hostProbesAndHostLifecycle",
        host_probes_and_host_lifecycle,
        "Baseline: probes and lifecycle handlers set no host (httpGet.host, tcpSocket.host).",
    ),
]
