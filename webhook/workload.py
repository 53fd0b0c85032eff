"""Pods and every pod-template kind, seen as one pod spec and its containers with JSON paths; pure.

Rules written for Pods run on the pod template of each workload kind, so a finding can name
the exact field (`/spec/template/spec/containers/0/securityContext/runAsNonRoot`) whatever
the kind.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Set
from typing import Any

import msgspec

JSONObject = dict[str, Any]

# (API group, kind) -> path of keys from the object to its pod template ("" for a Pod itself).
POD_TEMPLATE_PATHS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (),
    ("", "PodTemplate"): ("template",),
    ("", "ReplicationController"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}
POD_KINDS = frozenset(kind for _, kind in POD_TEMPLATE_PATHS)
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# kind -> (its API group, keys to the pod template, JSON Pointers of its metadata and its spec,
# and each container list with its JSON Pointer); by kind alone, no kind being in two groups
# (a lookup by a string rather than by a tuple built for it).
_TEMPLATE_POINTERS = {
    kind: (
        group,
        keys,
        "".join(f"/{step}" for step in keys) + "/metadata",
        "".join(f"/{step}" for step in keys) + "/spec",
        tuple(
            (name, "".join(f"/{step}" for step in keys) + f"/spec/{name}")
            for name in CONTAINER_LISTS
        ),
    )
    for (group, kind), keys in POD_TEMPLATE_PATHS.items()
}
assert len(_TEMPLATE_POINTERS) == len(POD_TEMPLATE_PATHS)
_LIST_LABELS = {"initContainers": "init container", "ephemeralContainers": "ephemeral container"}
_EMPTY: JSONObject = {}  # what a missing securityContext reads as (never written to)


def escape_pointer(key: str) -> str:
    """Escape one JSON Pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


@functools.lru_cache(maxsize=4096)  # the field names checks point at, and resource names
def pointer_tail(keys: tuple[str, ...]) -> str:
    """The escaped reference tokens of `keys`, joined by `/`."""
    return "/".join(escape_pointer(key) for key in keys)


# Frozen msgspec Structs rather than frozen dataclasses: one is built per container of every
# request, and a frozen dataclass pays an object.__setattr__ per field (a Struct is built in C).
# Untracked by the cyclic collector (gc=False): they refer only to the object's values, which
# never refer back to them, so they are in no reference cycle.
class Container(msgspec.Struct, frozen=True, gc=False):
    """One container of a pod spec, with the JSON Pointer of its entry in the object."""

    list_name: str  # containers | initContainers | ephemeralContainers
    list_path: str  # JSON Pointer of the list the container is in
    index: int  # in that list
    spec: JSONObject
    # `spec.securityContext` when it is an object, else an empty one (read once, for the
    # many checks that look at it).
    security_context: JSONObject

    @property
    def name(self) -> str:
        """`spec.name`, or `#<index>` when it has none (read when a finding names the container)."""
        name = self.spec.get("name", _EMPTY)
        if type(name) is str:
            return name
        return f"#{self.index}" if name is _EMPTY else str(name)

    @property
    def path(self) -> str:
        """The JSON Pointer of the container (built when a finding needs it)."""
        return f"{self.list_path}/{self.index}"

    def field_path(self, *keys: str) -> str:
        if not keys:
            return f"{self.list_path}/{self.index}"
        return f"{self.list_path}/{self.index}/{pointer_tail(keys)}"

    @property
    def label(self) -> str:
        """How a message names the container: `container "api"` or `init container "setup"`."""
        return f'{_LIST_LABELS.get(self.list_name, "container")} "{self.name}"'


class PodView(msgspec.Struct, frozen=True, gc=False):  # a Struct, as Container
    """The pod spec of a Pod or a workload's template, with paths relative to the object."""

    metadata: JSONObject
    spec: JSONObject
    metadata_path: str
    spec_path: str
    containers: tuple[Container, ...]
    security_context: JSONObject  # `spec.securityContext` when it is an object, else empty
    # The keys of every container's `securityContext`, together: a control on a field that no
    # container sets has no container to look at (most fields are unset in most pods).
    container_security_keys: Set[Any]
    # `spec.os.name: windows`: Linux-only fields are invalid there (restricted skips them).
    windows: bool
    # `spec.hostUsers: false`: container root is not host root (which relaxes some controls).
    user_namespace: bool

    def field_path(self, *keys: str) -> str:
        return f"{self.spec_path}/{pointer_tail(keys)}" if keys else self.spec_path

    def as_pod(self, namespace: str) -> JSONObject:
        """A Pod-shaped object for CEL rules written for Pods."""
        metadata = dict(self.metadata)
        if namespace and "namespace" not in metadata:
            metadata["namespace"] = namespace
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": self.spec}


def pod_template_path(group: str, kind: str) -> tuple[str, ...] | None:
    return POD_TEMPLATE_PATHS.get((group, kind))


def pod_view(obj: Mapping[str, Any], group: str, kind: str) -> PodView | None:
    """The pod view of `obj`, or None when it is no pod kind or has no pod spec."""
    found = _TEMPLATE_POINTERS.get(kind)
    if found is None:
        return None
    pod_group, keys, metadata_path, spec_path, lists = found
    if group != pod_group:
        return None
    node: Any = obj
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    spec = node.get("spec")
    if not isinstance(spec, dict):
        return None
    metadata, pod_security, system = (
        node.get("metadata"),
        spec.get("securityContext"),
        spec.get("os"),
    )
    containers: list[Container] = []
    append = containers.append
    security_keys: set[Any] = set()
    for list_name, list_path in lists:
        entries = spec.get(list_name)
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            if isinstance(entry, dict):
                security = entry.get("securityContext")
                if isinstance(security, dict):
                    security_keys.update(security)
                else:
                    security = _EMPTY
                append(Container(list_name, list_path, index, entry, security))
    # Positional: a Struct built from keywords costs several times more.
    return PodView(
        metadata if isinstance(metadata, dict) else {},
        spec,
        metadata_path,
        spec_path,
        tuple(containers),
        pod_security if isinstance(pod_security, dict) else _EMPTY,
        security_keys,
        isinstance(system, dict) and system.get("name") == "windows",
        spec.get("hostUsers") is False,  # user_namespace
    )
