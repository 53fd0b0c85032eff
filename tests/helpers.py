"""Builders of real-shaped Kubernetes objects and AdmissionRequests for tests."""

from __future__ import annotations

import copy
from typing import Any

from webhook.review import AdmissionRequest, GroupVersionKind, UserInfo, with_old_object

JSONObject = dict[str, Any]

GROUPS = {
    "Pod": ("", "v1"),
    "PodTemplate": ("", "v1"),
    "ReplicationController": ("", "v1"),
    "Deployment": ("apps", "v1"),
    "StatefulSet": ("apps", "v1"),
    "DaemonSet": ("apps", "v1"),
    "ReplicaSet": ("apps", "v1"),
    "Job": ("batch", "v1"),
    "CronJob": ("batch", "v1"),
    "ConfigMap": ("", "v1"),
    "Secret": ("", "v1"),
    "Namespace": ("", "v1"),
    "Service": ("", "v1"),
}


def pod_spec(**container: Any) -> JSONObject:
    spec: JSONObject = {"containers": [{"name": "app", "image": "reg.example.com/app:1.0"}]}
    spec["containers"][0].update(container)
    return spec


def wrap(
    kind: str,
    spec: JSONObject,
    *,
    name: str = "demo",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
) -> JSONObject:
    """A `kind` object whose pod template (or the Pod itself) has `spec`."""
    group, version = GROUPS[kind]
    api_version = f"{group}/{version}" if group else version
    metadata: JSONObject = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    template = {"metadata": {"labels": {"app": name}}, "spec": copy.deepcopy(spec)}
    obj: JSONObject = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if kind == "Pod":
        obj["spec"] = copy.deepcopy(spec)
    elif kind == "PodTemplate":
        obj["template"] = template
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind in (
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
    ):
        obj["spec"] = {"template": template}
    else:
        obj.update(spec)
    return obj


def request(
    obj: JSONObject | None,
    *,
    operation: str = "CREATE",
    old: JSONObject | None = None,
    user: str = "alice",
    groups: list[str] | None = None,
    sub_resource: str = "",
) -> AdmissionRequest:
    subject = obj if obj is not None else old
    assert subject is not None
    group, version = GROUPS.get(subject["kind"], ("", "v1"))
    metadata = subject.get("metadata", {})
    request = AdmissionRequest(
        uid="test-uid",
        kind=GroupVersionKind(group=group, version=version, kind=subject["kind"]),
        operation=operation,
        subResource=sub_resource,
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        userInfo=UserInfo(username=user, groups=groups or ["system:authenticated"]),
        new_object=obj,
    )
    return with_old_object(request, old)
