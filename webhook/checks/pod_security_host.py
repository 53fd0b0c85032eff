"""Pod Security Standards, baseline level (v1.37): the controls on host access; pure.

Host namespaces, privileged containers, hostPath volumes, host ports, probe and lifecycle
hosts and Windows HostProcess, each mirroring pod-security-admission's check of that name.
"""

from __future__ import annotations

from typing import Any

from webhook.checks.base import CheckDefinition, NoParams
from webhook.checks.pod_security_common import (
    container_violation,
    definition,
    items,
    pod_violation,
    show,
)
from webhook.findings import Violation
from webhook.projection import pod_reads
from webhook.workload import Container, JSONObject, PodView

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HANDLERS = ("postStart", "preStop")
HOST_ACTIONS = ("httpGet", "tcpSocket")
# What the probe and lifecycle control reads: whether each action of each handler names a host.
HOST_READS = tuple(
    f"{handler}.{action}.host"
    for handler in (*PROBES, *(f"lifecycle.{name}" for name in LIFECYCLE_HANDLERS))
    for action in HOST_ACTIONS
)


# Loops rather than comprehensions in these controls: a comprehension costs a call of its
# own, more than the loop over a few containers that finds nothing.
def host_namespaces(pod: PodView) -> list[Violation]:
    violations = []
    spec = pod.spec
    for key in HOST_NAMESPACES:
        if key in spec and spec[key] is True:  # (most pods set none of them)
            violations.append(
                pod_violation(
                    pod.field_path(key),
                    f"shares a host namespace ({key}: true)",
                    "remove it or set false",
                )
            )
    return violations


def privileged(pod: PodView) -> list[Violation]:
    violations: list[Violation] = []
    if "privileged" not in pod.container_security_keys:
        return violations
    for container in pod.containers:
        if container.security_context.get("privileged") is True:
            violations.append(
                container_violation(
                    container,
                    container.field_path("securityContext", "privileged"),
                    "runs privileged (securityContext.privileged: true)",
                    "remove it or set false",
                )
            )
    return violations


def host_path_volumes(pod: PodView) -> list[Violation]:
    violations: list[Violation] = []
    for index, volume in enumerate(items(pod.spec, "volumes")):
        if isinstance(volume, dict) and "hostPath" in volume and volume["hostPath"] is not None:
            violations.append(
                pod_violation(
                    pod.field_path("volumes", str(index), "hostPath"),
                    f"mounts a hostPath volume {show(volume.get('name'))}",
                    "use another volume type (emptyDir, configMap, secret, a "
                    "persistentVolumeClaim, ...)",
                )
            )
    return violations


def host_ports(pod: PodView) -> list[Violation]:
    violations = []
    for container in pod.containers:
        ports = container.spec.get("ports")
        if not isinstance(ports, list):
            continue
        # Each port is looked at without its index; a container that sets a hostPort is
        # walked again to name each one (inline: this runs for every port of every request).
        for port in ports:
            if isinstance(port, dict) and "hostPort" in port and _sets_host_port(port):
                violations.extend(_host_port_violations(container, ports))
                break
    return violations


def _sets_host_port(port: JSONObject) -> bool:
    host_port = port.get("hostPort")
    return host_port is not None and host_port != 0


def _host_port_violations(container: Container, ports: list[Any]) -> list[Violation]:
    return [
        container_violation(
            container,
            container.field_path("ports", str(index), "hostPort"),
            f"uses hostPort {show(port['hostPort'])}",
            "remove it or set 0 (reach the pod through a Service)",
        )
        for index, port in enumerate(ports)
        if isinstance(port, dict) and _sets_host_port(port)
    ]


def windows_host_process(pod: PodView) -> list[Violation]:
    fix = "remove it or set false"
    violations = []
    options = pod.security_context.get("windowsOptions")
    if isinstance(options, dict) and options.get("hostProcess") is True:
        violations.append(
            pod_violation(
                pod.field_path("securityContext", "windowsOptions", "hostProcess"),
                "runs Windows HostProcess containers (hostProcess: true)",
                fix,
            )
        )
    if "windowsOptions" not in pod.container_security_keys:
        return violations
    for container in pod.containers:
        options = container.security_context.get("windowsOptions")
        if isinstance(options, dict) and options.get("hostProcess") is True:
            violations.append(
                container_violation(
                    container,
                    container.field_path("securityContext", "windowsOptions", "hostProcess"),
                    "is a Windows HostProcess container (hostProcess: true)",
                    fix,
                )
            )
    return violations


def host_probes_and_host_lifecycle(pod: PodView) -> list[Violation]:
    violations: list[Violation] = []
    for container in pod.containers:
        spec = container.spec
        for probe in PROBES:
            if probe not in spec:  # (a test rather than a get: most containers lack some)
                continue
            handler = spec[probe]
            # Whether it is a dict, not whether it is empty: its other keys may be left out
            # of the decode (HOST_READS); one without actions names no host either way.
            if isinstance(handler, dict):
                # `_sets_host`, inline: most containers have probes, and few name a host
                # (and fewer have a tcpSocket action, looked up only when there is one).
                http = handler.get("httpGet")
                if (isinstance(http, dict) and "host" in http) or (
                    "tcpSocket" in handler and _names_host(handler["tcpSocket"])
                ):
                    violations.extend(_host_violations(container, (probe,), handler))
        if "lifecycle" not in spec:
            continue
        lifecycle = spec["lifecycle"]
        if isinstance(lifecycle, dict):
            for name in LIFECYCLE_HANDLERS:
                handler = lifecycle.get(name)
                if isinstance(handler, dict) and _sets_host(handler):
                    violations.extend(_host_violations(container, ("lifecycle", name), handler))
    return violations


def _names_host(action: object) -> bool:
    return isinstance(action, dict) and "host" in action


def _sets_host(handler: JSONObject) -> bool:
    """Whether one of the handler's actions (HOST_ACTIONS) names a host; the violations then
    say which. Spelled out: it runs for every probe of every request."""
    http, tcp = handler.get("httpGet"), handler.get("tcpSocket")
    return (isinstance(http, dict) and "host" in http) or (isinstance(tcp, dict) and "host" in tcp)


def _host_violations(
    container: Container, where: tuple[str, ...], handler: JSONObject
) -> list[Violation]:
    """A violation for each action of one probe or lifecycle handler that sets a host."""
    violations = []
    for action in HOST_ACTIONS:
        target = handler.get(action)
        host = target.get("host") if isinstance(target, dict) else None
        if host is not None and host != "":
            violations.append(
                container_violation(
                    container,
                    container.field_path(*where, action, "host"),
                    f"sends its {' '.join(where)} {action} to host {show(host)}",
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
        pod_reads(spec=HOST_NAMESPACES),
    ),
    definition(
        "privileged",
        privileged,
        "Baseline: no container is privileged (securityContext.privileged unset or false).",
    ),
    definition(
        "hostPathVolumes",
        host_path_volumes,
        "Baseline: the pod mounts no hostPath volume.",
        pod_reads(spec=("volumes",)),
    ),
    definition(
        "hostPorts",
        host_ports,
        "Baseline: no container port sets a hostPort (unset or 0).",
        pod_reads(container=("ports[].hostPort",)),
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
        pod_reads(container=HOST_READS),
    ),
]
