"""Realistic Kubernetes objects for the benchmarks, shaped as the API server stores them.

Pods carry what a Deployment's pods carry in a cluster: owner references, managedFields
(FieldsV1 trees of the controller and of the kubelet), several containers with probes,
resources and environment, projected service account tokens; an UPDATE's old object also has
a status. `violating=True` breaks one Pod Security control, picked by `variant`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

JSONObject = dict[str, Any]
CREATED = "2025-03-14T09:26:53Z"
APPS = ("checkout", "cart", "catalog", "payments", "search", "frontend", "ledger", "mailer")
NAMESPACES = ("shop", "payments", "search", "web", "batch", "platform")
VIOLATIONS = (
    "privileged",
    "host-network",
    "run-as-root",
    "capabilities",
    "host-path",
    "privilege-escalation",
)


def _uid(seed: int, salt: int = 0) -> str:
    value = (seed * 2654435761 + salt * 40503) & 0xFFFFFFFFFFFF
    return f"7c1b{salt & 0xFFFF:04x}-2f4e-4c1a-9b3e-{value:012x}"


def fields_v1(value: Any) -> Any:
    """The FieldsV1 tree of `value` as the API server records it (list items by key)."""
    if isinstance(value, dict):
        tree: JSONObject = {}
        for key, item in value.items():
            tree[f"f:{key}"] = fields_v1(item)
        if tree:
            tree["."] = {}
        return tree
    if isinstance(value, list):
        tree = {}
        for index, item in enumerate(value):
            tree[_item_key(index, item)] = fields_v1(item)
        return tree
    return {}


def _item_key(index: int, item: Any) -> str:
    if not isinstance(item, dict):
        return "v:" + json.dumps(item, separators=(",", ":"))
    for names in (("uid",), ("containerPort", "protocol"), ("name",), ("key", "path")):
        if all(name in item for name in names):
            return "k:" + json.dumps({n: item[n] for n in names}, separators=(",", ":"))
    return f"i:{index}"


def managed_entry(manager: str, operation: str, fields: JSONObject, *, sub: str = "") -> JSONObject:
    entry: JSONObject = {
        "manager": manager,
        "operation": operation,
        "apiVersion": "v1",
        "time": CREATED,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(fields),
    }
    if sub:
        entry["subresource"] = sub
    return entry


def container(app: str, seed: int) -> JSONObject:
    return {
        "name": app,
        "image": f"registry.example.com/shop/{app}:1.{seed % 40}.{seed % 7}",
        "imagePullPolicy": "IfNotPresent",
        "args": ["--port=8080", "--metrics-port=9090", f"--log-level={'info'}"],
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "env": [
            {"name": "SERVICE_NAME", "value": app},
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector:4317"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
            },
            {
                "name": "DATABASE_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "password"}},
            },
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": 8080, "scheme": "HTTP"},
            "periodSeconds": 5,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {
                "name": "kube-api-access",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            },
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": restricted_security_context(),
    }


def restricted_security_context() -> JSONObject:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_spec(app: str, seed: int, *, violating: bool = False, variant: int = 0) -> JSONObject:
    sidecar = container("proxy", seed)
    sidecar["image"] = "registry.example.com/mesh/proxy:1.22.3"
    sidecar["args"] = ["proxy", "sidecar", "--concurrency=2"]
    init = container("migrate", seed)
    init.pop("livenessProbe")
    init.pop("readinessProbe")
    init["command"] = ["/bin/migrate", "up"]
    spec: JSONObject = {
        "initContainers": [init],
        "containers": [container(app, seed), sidecar],
        "volumes": [
            {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            {
                "name": "kube-api-access",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {
                                            "apiVersion": "v1",
                                            "fieldPath": "metadata.namespace",
                                        },
                                    }
                                ]
                            }
                        },
                    ],
                },
            },
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": app,
        "serviceAccount": app,
        "automountServiceAccountToken": True,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "schedulerName": "default-scheduler",
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    if violating:
        _violate(spec, VIOLATIONS[variant % len(VIOLATIONS)])
    return spec


def _violate(spec: JSONObject, how: str) -> None:
    main = spec["containers"][0]
    if how == "privileged":
        main["securityContext"]["privileged"] = True
    elif how == "host-network":
        spec["hostNetwork"] = True
    elif how == "run-as-root":
        spec["securityContext"].pop("runAsNonRoot")
        spec["securityContext"]["runAsUser"] = 0
        for item in (*spec["containers"], *spec["initContainers"]):
            item["securityContext"].pop("runAsNonRoot")
            item["securityContext"].pop("runAsUser")
    elif how == "capabilities":
        main["securityContext"]["capabilities"] = {"add": ["NET_ADMIN", "SYS_TIME"]}
    elif how == "host-path":
        spec["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}})
    else:
        main["securityContext"]["allowPrivilegeEscalation"] = True


def labels(app: str, seed: int) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/version": f"1.{seed % 40}.{seed % 7}",
        "team": "team-" + app,
    }


def pod(seed: int, *, violating: bool = False, status: bool = False) -> JSONObject:
    """A Pod created by a ReplicaSet, with the managedFields the controller and kubelet write."""
    app = APPS[seed % len(APPS)]
    namespace = NAMESPACES[seed % len(NAMESPACES)]
    template_hash = f"{(seed * 7919) & 0xFFFFFFFF:08x}"[:10]
    name = f"{app}-{template_hash}-{_uid(seed)[-5:]}"
    pod_labels = {**labels(app, seed), "pod-template-hash": template_hash}
    spec = pod_spec(app, seed, violating=violating, variant=seed // 10)
    metadata: JSONObject = {
        "name": name,
        "generateName": f"{app}-{template_hash}-",
        "namespace": namespace,
        "uid": _uid(seed, 1),
        "resourceVersion": str(100000 + seed),
        "creationTimestamp": CREATED,
        "labels": pod_labels,
        "annotations": {
            "kubectl.kubernetes.io/restartedAt": CREATED,
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9090",
        },
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"{app}-{template_hash}",
                "uid": _uid(seed, 2),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    managed = [
        managed_entry(
            "kube-controller-manager",
            "Update",
            {
                "metadata": {
                    k: metadata[k]
                    for k in ("generateName", "labels", "annotations", "ownerReferences")
                },
                "spec": spec,
            },
        )
    ]
    obj: JSONObject = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    if status:
        spec["nodeName"] = f"node-{seed % 12}"
        obj["status"] = pod_status(spec, seed)
        managed.append(managed_entry("kubelet", "Update", {"status": obj["status"]}, sub="status"))
    metadata["managedFields"] = managed
    return obj


def pod_status(spec: JSONObject, seed: int) -> JSONObject:
    conditions = [
        {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": CREATED}
        for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
    ]
    states = [
        {
            "name": item["name"],
            "image": item["image"],
            "imageID": f"{item['image'].split(':')[0]}@sha256:{'%064x' % (seed + i)}",
            "containerID": f"containerd://{'%064x' % (seed * 31 + i)}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": CREATED}},
            "lastState": {},
        }
        for i, item in enumerate(spec["containers"])
    ]
    return {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": f"10.0.{seed % 12}.10",
        "podIP": f"10.244.{seed % 12}.{seed % 250}",
        "podIPs": [{"ip": f"10.244.{seed % 12}.{seed % 250}"}],
        "startTime": CREATED,
        "qosClass": "Burstable",
        "containerStatuses": states,
    }


def updated_pod(seed: int, *, violating: bool = False) -> tuple[JSONObject, JSONObject]:
    """(new, old) of a Pod UPDATE: a label and an annotation changed on a running Pod."""
    old = pod(seed, violating=violating, status=True)
    new = copy.deepcopy(old)
    new["metadata"]["labels"]["rollout"] = f"r{seed % 5}"
    new["metadata"]["annotations"]["example.com/last-seen"] = CREATED
    new["metadata"]["resourceVersion"] = str(200000 + seed)
    return new, old


WORKLOADS = {
    "Deployment": ("apps", ("spec", "template")),
    "ReplicaSet": ("apps", ("spec", "template")),
    "StatefulSet": ("apps", ("spec", "template")),
    "DaemonSet": ("apps", ("spec", "template")),
    "Job": ("batch", ("spec", "template")),
    "CronJob": ("batch", ("spec", "jobTemplate", "spec", "template")),
}


def workload(kind: str, seed: int, *, violating: bool = False) -> JSONObject:
    """A workload of `kind` whose pod template is a realistic pod spec."""
    group, _ = WORKLOADS[kind]
    app = APPS[seed % len(APPS)]
    namespace = NAMESPACES[seed % len(NAMESPACES)]
    template = {
        "metadata": {
            "labels": {**labels(app, seed)},
            "annotations": {"prometheus.io/port": "9090"},
        },
        "spec": pod_spec(app, seed, violating=violating, variant=seed // 10),
    }
    if kind in ("Job", "CronJob"):
        template["spec"]["restartPolicy"] = "OnFailure"
    body: JSONObject = {"template": template}
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        body = {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
            **body,
        }
    if kind == "Deployment":
        body["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        }
        body["revisionHistoryLimit"] = 10
        body["progressDeadlineSeconds"] = 600
    if kind == "DaemonSet":
        body["selector"] = {"matchLabels": {"app.kubernetes.io/name": app}}
    if kind == "StatefulSet":
        body["serviceName"] = app
    spec: JSONObject = body
    if kind == "Job":
        spec = {"backoffLimit": 3, "ttlSecondsAfterFinished": 3600, **body}
    if kind == "CronJob":
        spec = {
            "schedule": "*/15 * * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 3, **body}},
        }
    metadata: JSONObject = {
        "name": f"{app}-{seed % 997}",
        "namespace": namespace,
        "uid": _uid(seed, 3),
        "resourceVersion": str(300000 + seed),
        "generation": 1 + seed % 4,
        "creationTimestamp": CREATED,
        "labels": labels(app, seed),
        "annotations": {"deployment.kubernetes.io/revision": str(1 + seed % 9)},
    }
    metadata["managedFields"] = [
        managed_entry(
            "argocd-controller", "Apply", {"metadata": {"labels": metadata["labels"]}, "spec": spec}
        )
    ]
    return {"apiVersion": f"{group}/v1", "kind": kind, "metadata": metadata, "spec": spec}
