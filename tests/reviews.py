"""AdmissionReview documents shaped as kube-apiserver sends them, for objects built in tests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.helpers import GROUPS

JSONObject = dict[str, Any]
DATA = Path(__file__).resolve().parent / "data" / "admission-reviews"
RESOURCES = {
    "Pod": "pods",
    "PodTemplate": "podtemplates",
    "ReplicationController": "replicationcontrollers",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "ReplicaSet": "replicasets",
    "Job": "jobs",
    "CronJob": "cronjobs",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Namespace": "namespaces",
    "Service": "services",
}


def admission_review(
    obj: JSONObject | None,
    *,
    operation: str = "CREATE",
    old: JSONObject | None = None,
    user: str = "alice",
    groups: list[str] | None = None,
    dry_run: bool = False,
    api_version: str = "admission.k8s.io/v1",
    sub_resource: str = "",
) -> JSONObject:
    """The AdmissionReview the API server sends for `operation` on `obj` (or `old` on DELETE)."""
    subject = obj if obj is not None else old
    assert subject is not None
    kind = subject["kind"]
    group, version = GROUPS[kind]
    metadata = subject.get("metadata", {})
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": RESOURCES[kind]}
    options_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions"}.get(
        operation, "DeleteOptions"
    )
    request: JSONObject = {
        "uid": str(uuid.uuid4()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
        "operation": operation,
        "userInfo": {
            "username": user,
            "uid": "5b1d6c1e-0000-4000-8000-000000000001",
            "groups": groups or ["system:authenticated"],
        },
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind},
    }
    if sub_resource:
        request["subResource"] = request["requestSubResource"] = sub_resource
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


def load_review(name: str) -> JSONObject:
    """One of the AdmissionReview files under tests/data/admission-reviews/."""
    value: JSONObject = json.loads((DATA / name).read_text())
    return value


def raw_review(name: str) -> bytes:
    return (DATA / name).read_bytes()
