"""Pod Security Standards, restricted-only controls (v1.37): one check per control; pure.

The restricted level is these checks together with the baseline ones. Windows pods
(`spec.os.name: windows`) skip the Linux-only controls, as upstream does from v1.25.
"""

from __future__ import annotations

from webhook.checks.base import CheckDefinition, NoParams
from webhook.checks.pod_security_common import (
    container_violation,
    definition,
    items,
    one_of,
    pod_violation,
    show,
    unmasked_proc_mounts,
)
from webhook.findings import Violation
from webhook.projection import pod_reads
from webhook.workload import JSONObject, PodView

ALLOWED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
RESTRICTED_VOLUMES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
_EMPTY: JSONObject = {}  # what a missing capabilities object reads as; never written to
RESTRICTED_ADD_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})

_ALLOWED = frozenset(ALLOWED_VOLUMES)
_VOLUMES_FIX = f"use only the volume types {', '.join(ALLOWED_VOLUMES)}"
_SECCOMP_FIX = "set RuntimeDefault or Localhost"


def restricted_volumes(pod: PodView) -> list[Violation]:
    violations: list[Violation] = []
    for index, volume in enumerate(items(pod.spec, "volumes")):
        if not isinstance(volume, dict):
            continue
        for key in volume:
            if key in _ALLOWED and volume[key] is not None:
                break
        else:
            violations.extend(_restricted_volume(pod, index, volume))
    return violations


def _restricted_volume(pod: PodView, index: int, volume: JSONObject) -> list[Violation]:
    """The violation of a volume with no allowed source: none if it has no source at all."""
    source = next((key for key in RESTRICTED_VOLUMES if volume.get(key) is not None), None)
    if source is None:
        # A volume with no source at all is defaulted to emptyDir by the API server.
        unknown = [str(key) for key, value in volume.items() if key != "name" and value is not None]
        if not unknown:
            return []
        source = unknown[0]
    return [
        pod_violation(
            pod.field_path("volumes", str(index), source),
            f"uses volume {show(volume.get('name'))} of type {source}",
            _VOLUMES_FIX,
        )
    ]


def allow_privilege_escalation(pod: PodView) -> list[Violation]:
    if pod.windows:
        return []
    violations = []
    for container in pod.containers:
        value = container.security_context.get("allowPrivilegeEscalation")
        if value is not False:
            setting = "unset" if value is None else show(value)
            violations.append(
                container_violation(
                    container,
                    container.field_path("securityContext", "allowPrivilegeEscalation"),
                    f"may gain privileges (allowPrivilegeEscalation is {setting})",
                    "set securityContext.allowPrivilegeEscalation: false",
                )
            )
    return violations


def run_as_non_root(pod: PodView) -> list[Violation]:
    """runAsNonRoot: true at pod or container level; skipped for `hostUsers: false` pods."""
    if pod.user_namespace:
        return []
    violations = []
    pod_value = pod.security_context.get("runAsNonRoot")
    if pod_value is not None and pod_value is not True:
        violations.append(
            pod_violation(
                pod.field_path("securityContext", "runAsNonRoot"),
                f"sets runAsNonRoot {show(pod_value)}",
                "set runAsNonRoot: true",
            )
        )
    for container in pod.containers:
        value = container.security_context.get("runAsNonRoot")
        if value is True:
            continue
        path = container.field_path("securityContext", "runAsNonRoot")
        if value is not None:
            violations.append(
                container_violation(
                    container, path, f"sets runAsNonRoot {show(value)}", "set runAsNonRoot: true"
                )
            )
        elif pod_value is not True:
            violations.append(
                container_violation(
                    container,
                    path,
                    "may run as root (runAsNonRoot is unset in the container and the pod)",
                    "set runAsNonRoot: true in the container or the pod securityContext",
                )
            )
    return violations


def _is_root(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def run_as_user(pod: PodView) -> list[Violation]:
    """runAsUser is never 0 (unset is allowed); skipped for `hostUsers: false` pods."""
    if pod.user_namespace:
        return []
    fix = "set a non-zero user id or remove it"
    violations = []
    pod_user = pod.security_context.get("runAsUser")
    if pod_user == 0 and _is_root(pod_user):  # `== 0` first, as for the containers below
        violations.append(
            pod_violation(
                pod.field_path("securityContext", "runAsUser"), "runs as root (runAsUser: 0)", fix
            )
        )
    for container in pod.containers:
        user = container.security_context.get("runAsUser")
        # `== 0` first: cheap, and true of every root value (which `_is_root` narrows down).
        if user == 0 and _is_root(user):
            violations.append(
                container_violation(
                    container,
                    container.field_path("securityContext", "runAsUser"),
                    "runs as root (runAsUser: 0)",
                    fix,
                )
            )
    return violations


def seccomp_profile_restricted(pod: PodView) -> list[Violation]:
    """A seccomp profile of type RuntimeDefault or Localhost for every container, or the pod."""
    if pod.windows:
        return []
    violations = []
    pod_profile = pod.security_context.get("seccompProfile")
    pod_set = False
    if pod_profile is not None:
        kind = pod_profile.get("type", "") if isinstance(pod_profile, dict) else ""
        pod_set = one_of(kind, SECCOMP_TYPES)
        if not pod_set:
            violations.append(
                pod_violation(
                    pod.field_path("securityContext", "seccompProfile", "type"),
                    f"sets seccomp profile type {show(kind)}",
                    _SECCOMP_FIX,
                )
            )
    for container in pod.containers:
        profile = container.security_context.get("seccompProfile")
        if profile is not None:
            kind = profile.get("type", "") if isinstance(profile, dict) else ""
            if not (isinstance(kind, str) and kind in SECCOMP_TYPES):
                violations.append(
                    container_violation(
                        container,
                        container.field_path("securityContext", "seccompProfile", "type"),
                        f"sets seccomp profile type {show(kind)}",
                        _SECCOMP_FIX,
                    )
                )
        elif not pod_set:
            violations.append(
                container_violation(
                    container,
                    container.field_path("securityContext", "seccompProfile", "type"),
                    "has no seccomp profile (unset in the container and the pod)",
                    f"{_SECCOMP_FIX} in the container or the pod securityContext",
                )
            )
    return violations


def capabilities_restricted(pod: PodView) -> list[Violation]:
    """Drop ALL capabilities and add none but NET_BIND_SERVICE."""
    if pod.windows:
        return []
    violations = []
    for container in pod.containers:
        capabilities = container.security_context.get("capabilities")
        if not isinstance(capabilities, dict):
            capabilities = _EMPTY
        dropped = capabilities.get("drop")
        if not (isinstance(dropped, list) and "ALL" in dropped):
            violations.append(
                container_violation(
                    container,
                    container.field_path("securityContext", "capabilities", "drop"),
                    "does not drop all capabilities",
                    'set securityContext.capabilities.drop: ["ALL"]',
                )
            )
        if "add" not in capabilities:  # (most containers add none)
            continue
        added = capabilities["add"]
        if not added or not isinstance(added, list):
            continue
        for index, capability in enumerate(added):
            if not one_of(capability, RESTRICTED_ADD_CAPABILITIES):
                violations.append(
                    container_violation(
                        container,
                        container.field_path("securityContext", "capabilities", "add", str(index)),
                        f"adds capability {show(capability)}",
                        "add only NET_BIND_SERVICE",
                    )
                )
    return violations


def proc_mount_restricted(pod: PodView) -> list[Violation]:
    """Restricted forbids unmasked /proc even for pods in a user namespace."""
    if "procMount" not in pod.container_security_keys:
        return []
    return unmasked_proc_mounts(pod, fix="remove it or set Default")


DEFINITIONS: list[CheckDefinition[NoParams]] = [
    definition(
        "restrictedVolumes",
        restricted_volumes,
        f"Restricted: volumes are only of the types {', '.join(ALLOWED_VOLUMES)}.",
        pod_reads(spec=("volumes",)),
    ),
    definition(
        "allowPrivilegeEscalation",
        allow_privilege_escalation,
        "Restricted: every container sets allowPrivilegeEscalation: false (Windows pods exempt).",
    ),
    definition(
        "runAsNonRoot",
        run_as_non_root,
        "Restricted: runAsNonRoot is true for every container (container or pod level), never "
        "false; pods with hostUsers: false are exempt.",
    ),
    definition(
        "runAsUser",
        run_as_user,
        "Restricted: runAsUser is never 0 (pod or container); pods with hostUsers: false are "
        "exempt.",
    ),
    definition(
        "seccompProfileRestricted",
        seccomp_profile_restricted,
        "Restricted: every container has a seccomp profile of type RuntimeDefault or Localhost "
        "(container or pod level; Windows pods exempt).",
    ),
    definition(
        "capabilitiesRestricted",
        capabilities_restricted,
        'Restricted: every container drops ["ALL"] and adds at most NET_BIND_SERVICE (Windows '
        "pods exempt).",
    ),
    definition(
        "procMountRestricted",
        proc_mount_restricted,
        "Restricted: procMount is unset or Default, also for pods with hostUsers: false.",
    ),
]
