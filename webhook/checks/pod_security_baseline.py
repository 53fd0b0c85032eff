"""Pod Security Standards, baseline level (v1.37): capabilities and security profiles; pure.

Capabilities, AppArmor, SELinux, /proc mount, seccomp and sysctls, each mirroring
pod-security-admission's check of that name (host-access controls: pod_security_host).
"""

from __future__ import annotations

from webhook.checks.base import CheckDefinition, NoParams
from webhook.checks.pod_security_common import (
    annotation_path,
    check_security_context_values,
    container_violation,
    definition,
    items,
    one_of,
    pod_violation,
    show,
    unmasked_proc_mounts,
)
from webhook.findings import Violation
from webhook.workload import PodView

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_slow_start_after_idle",
        "net.ipv4.tcp_notsent_lowat",
    }
)

_CAPABILITIES_FIX = f"add only {', '.join(sorted(BASELINE_CAPABILITIES))}"
_SELINUX_TYPES_FIX = (
    "set it to one of "
    + ", ".join(sorted(value for value in SELINUX_TYPES if value))
    + " or leave it empty"
)
_SYSCTLS_FIX = f"use only the namespaced sysctls {', '.join(sorted(SAFE_SYSCTLS))}"


def capabilities_baseline(pod: PodView) -> list[Violation]:
    violations = []
    for container in pod.containers:
        capabilities = container.security_context.get("capabilities")
        if not isinstance(capabilities, dict):
            continue
        added = capabilities.get("add")
        if not added or not isinstance(added, list):
            continue
        for index, capability in enumerate(added):
            if not one_of(capability, BASELINE_CAPABILITIES):
                violations.append(
                    container_violation(
                        container,
                        container.field_path("securityContext", "capabilities", "add", str(index)),
                        f"adds capability {show(capability)}",
                        _CAPABILITIES_FIX,
                    )
                )
    return violations


def app_armor_profile(pod: PodView) -> list[Violation]:
    violations = check_security_context_values(
        pod,
        "appArmorProfile",
        APPARMOR_TYPES,
        what="AppArmor profile",
        fix="set RuntimeDefault or Localhost, or remove it",
    )
    annotations = pod.metadata.get("annotations")
    if not isinstance(annotations, dict):
        return violations
    for key in annotations:
        # `in` before `startswith`: the same answer for the keys without the prefix (nearly
        # all), at a fraction of the cost of a method call.
        if (
            not isinstance(key, str)
            or APPARMOR_ANNOTATION_PREFIX not in key
            or not key.startswith(APPARMOR_ANNOTATION_PREFIX)
        ):
            continue
        value = annotations[key]
        if isinstance(value, str) and (
            not value or value == "runtime/default" or value.startswith("localhost/")
        ):
            continue
        name = key[len(APPARMOR_ANNOTATION_PREFIX) :]
        path = annotation_path(pod, key)
        violations.append(
            Violation(
                message=f'annotation "{key}" sets the AppArmor profile of container "{name}" '
                f'to {show(value)}; set "runtime/default" or "localhost/<profile>", '
                "or remove it",
                path=path,
                container=name,
            )
        )
    return violations


def _selinux_violations(options: object) -> list[tuple[str, str, str]]:
    """(field, problem, fix) for each forbidden field of one seLinuxOptions object."""
    if not isinstance(options, dict):
        return []
    found = []
    kind = options.get("type")
    if kind is not None and not one_of(kind, SELINUX_TYPES):
        found.append(("type", f"sets SELinux type {show(kind)}", _SELINUX_TYPES_FIX))
    for key in ("user", "role"):
        value = options.get(key)
        if value is not None and value != "":
            found.append((key, f"sets SELinux {key} {show(value)}", "remove it"))
    return found


def se_linux_options(pod: PodView) -> list[Violation]:
    violations = []
    options = pod.security_context.get("seLinuxOptions")
    if options:
        violations += [
            pod_violation(pod.field_path("securityContext", "seLinuxOptions", key), problem, fix)
            for key, problem, fix in _selinux_violations(options)
        ]
    if "seLinuxOptions" not in pod.container_security_keys:
        return violations
    for container in pod.containers:
        options = container.security_context.get("seLinuxOptions")
        if not options:
            continue
        violations.extend(
            container_violation(
                container,
                container.field_path("securityContext", "seLinuxOptions", key),
                problem,
                fix,
            )
            for key, problem, fix in _selinux_violations(options)
        )
    return violations


def proc_mount(pod: PodView) -> list[Violation]:
    """Baseline relaxes procMount for pods in a user namespace (`hostUsers: false`)."""
    if pod.user_namespace or "procMount" not in pod.container_security_keys:
        return []
    return unmasked_proc_mounts(
        pod, fix="remove it or set Default (or run the pod with hostUsers: false)"
    )


def seccomp_profile_baseline(pod: PodView) -> list[Violation]:
    return check_security_context_values(
        pod,
        "seccompProfile",
        SECCOMP_TYPES,
        what="seccomp profile",
        fix="set RuntimeDefault or Localhost, or remove it",
    )


def sysctls(pod: PodView) -> list[Violation]:
    violations: list[Violation] = []
    if "sysctls" not in pod.security_context:  # most pods set none
        return violations
    for index, sysctl in enumerate(items(pod.security_context, "sysctls")):
        name = sysctl.get("name") if isinstance(sysctl, dict) else sysctl
        if not one_of(name, SAFE_SYSCTLS):
            violations.append(
                pod_violation(
                    pod.field_path("securityContext", "sysctls", str(index), "name"),
                    f"sets sysctl {show(name)}",
                    _SYSCTLS_FIX,
                )
            )
    return violations


DEFINITIONS: list[CheckDefinition[NoParams]] = [
    definition(
        "capabilitiesBaseline",
        capabilities_baseline,
        "Baseline: containers add only capabilities of the default set "
        f"({', '.join(sorted(BASELINE_CAPABILITIES))}).",
    ),
    definition(
        "appArmorProfile",
        app_armor_profile,
        "Baseline: AppArmor profiles are RuntimeDefault or Localhost (fields), or "
        "runtime/default or localhost/* (annotations); never unconfined.",
    ),
    definition(
        "seLinuxOptions",
        se_linux_options,
        "Baseline: SELinux type is empty or one of container_t, container_init_t, "
        "container_kvm_t, container_engine_t; user and role are not set.",
    ),
    definition(
        "procMount",
        proc_mount,
        "Baseline: procMount is unset or Default, unless the pod runs with hostUsers: false.",
    ),
    definition(
        "seccompProfileBaseline",
        seccomp_profile_baseline,
        "Baseline: seccomp profiles that are set are RuntimeDefault or Localhost (not Unconfined).",
    ),
    definition(
        "sysctls",
        sysctls,
        f"Baseline: the pod sets only the safe sysctls ({', '.join(sorted(SAFE_SYSCTLS))}).",
    ),
]
