"""The request mix of the benchmarks: AdmissionReview bodies as the API server sends them.

45% Pod CREATE, 15% Pod UPDATE (object and oldObject with status and managedFields), 10%
Deployment, 5% ReplicaSet, 5% other workload kinds, 8% ConfigMap/Secret, 5% Service/Ingress,
2% Namespace, 5% DELETE; about 10% of the requests violate a Pod Security control and about
5% are dry runs. Deterministic for a seed.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from bench import objects, resources
from bench.objects import JSONObject

API_VERSION = "admission.k8s.io/v1"
VIOLATING_SHARE = 0.10
DRY_RUN_SHARE = 0.05
WORKLOAD_SHARE = 0.80  # the categories below whose objects carry a pod spec
RESOURCES = {
    "Pod": ("", "pods"),
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "ConfigMap": ("", "configmaps"),
    "Secret": ("", "secrets"),
    "Service": ("", "services"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "Namespace": ("", "namespaces"),
    "Certificate": ("cert-manager.io", "certificates"),
}
USERS = {
    "Pod": "system:serviceaccount:kube-system:replicaset-controller",
    "ReplicaSet": "system:serviceaccount:kube-system:deployment-controller",
    "Job": "system:serviceaccount:kube-system:cronjob-controller",
}
GITOPS_USER = "system:serviceaccount:argocd:argocd-application-controller"
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Review:
    """One request of the mix: the body to POST and what it is."""

    label: str  # e.g. "Pod CREATE"
    path: str  # /validate or /mutate
    uid: str
    body: bytes
    violating: bool
    dry_run: bool


def review_document(
    obj: JSONObject | None,
    *,
    operation: str,
    uid: str,
    old: JSONObject | None = None,
    user: str = GITOPS_USER,
    dry_run: bool = False,
) -> JSONObject:
    """The AdmissionReview the API server sends for `operation` on `obj` (`old` on DELETE)."""
    subject = obj if obj is not None else old
    assert subject is not None
    kind = subject["kind"]
    group, resource = RESOURCES[kind]
    version = subject["apiVersion"].rpartition("/")[2]
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": resource}
    options = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions"}.get(operation, "DeleteOptions")
    metadata = subject["metadata"]
    request: JSONObject = {
        "uid": uid,
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
        "operation": operation,
        "userInfo": {
            "username": user,
            "uid": "2f9c1d7a-6a4e-4f0b-9d8e-3c2b1a0f9e8d",
            "groups": ["system:serviceaccounts", "system:authenticated"],
        },
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": options},
    }
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": request}


Builder = Callable[[int, bool], tuple[str, JSONObject | None, JSONObject | None, str]]


def _pod_create(seed: int, bad: bool) -> tuple[str, JSONObject | None, JSONObject | None, str]:
    return "CREATE", objects.pod(seed, violating=bad), None, USERS["Pod"]


def _pod_update(seed: int, bad: bool) -> tuple[str, JSONObject | None, JSONObject | None, str]:
    new, old = objects.updated_pod(seed, violating=bad)
    return "UPDATE", new, old, f"system:node:node-{seed % 12}"


def _workload(kinds: tuple[str, ...], *, updates: bool = False) -> Builder:
    def build(seed: int, bad: bool) -> tuple[str, JSONObject | None, JSONObject | None, str]:
        kind = kinds[seed % len(kinds)]
        obj = objects.workload(kind, seed, violating=bad)
        user = USERS.get(kind, GITOPS_USER)
        if updates and seed % 2:
            old = copy.deepcopy(obj)
            old["metadata"]["generation"] -= 1
            spec = obj["spec"]
            spec["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = (
                objects.CREATED
            )
            return "UPDATE", obj, old, user
        return "CREATE", obj, None, user

    return build


def _plain(*makers: Callable[[int], JSONObject]) -> Builder:
    def build(seed: int, bad: bool) -> tuple[str, JSONObject | None, JSONObject | None, str]:
        obj = makers[seed % len(makers)](seed)
        if seed % 3 == 0:
            old = copy.deepcopy(obj)
            old["metadata"]["resourceVersion"] = str(int(old["metadata"]["resourceVersion"]) - 1)
            return "UPDATE", obj, old, GITOPS_USER
        return "CREATE", obj, None, GITOPS_USER

    return build


def _delete(seed: int, bad: bool) -> tuple[str, JSONObject | None, JSONObject | None, str]:
    kinds: tuple[Callable[[int], JSONObject], ...] = (
        lambda s: objects.pod(s, status=True),
        lambda s: objects.pod(s, status=True),
        lambda s: objects.workload("ReplicaSet", s),
        resources.config_map,
    )
    old = kinds[seed % len(kinds)](seed)
    return "DELETE", None, old, GITOPS_USER


# (label, share in percent, builder, whether its objects carry a pod spec)
CATEGORIES: tuple[tuple[str, int, Builder, bool], ...] = (
    ("Pod CREATE", 45, _pod_create, True),
    ("Pod UPDATE", 15, _pod_update, True),
    ("Deployment", 10, _workload(("Deployment",), updates=True), True),
    ("ReplicaSet", 5, _workload(("ReplicaSet",)), True),
    ("other workloads", 5, _workload(("StatefulSet", "DaemonSet", "Job", "CronJob")), True),
    ("ConfigMap/Secret", 8, _plain(resources.config_map, resources.secret), False),
    ("Service/Ingress", 5, _plain(resources.service, resources.ingress), False),
    ("Namespace", 2, _plain(resources.namespace), False),
    ("DELETE", 5, _delete, False),
)


def build_mix(count: int, *, seed: int = 7, path: str = "/validate") -> list[Review]:
    """`count` reviews in the mix's proportions, shuffled; the same list for the same seed."""
    rng = random.Random(seed)
    labels = [label for label, _, _, _ in CATEGORIES]
    weights = [share for _, share, _, _ in CATEGORIES]
    builders = {label: (builder, pods) for label, _, builder, pods in CATEGORIES}
    reviews = []
    for index in range(count):
        label = rng.choices(labels, weights)[0]
        builder, pods = builders[label]
        bad = pods and rng.random() < VIOLATING_SHARE / WORKLOAD_SHARE
        dry_run = rng.random() < DRY_RUN_SHARE
        operation, obj, old, user = builder(rng.randrange(1_000_000), bad)
        uid = f"{index:08x}-5d3c-4b6a-8e1f-{rng.getrandbits(48):012x}"
        document = review_document(
            obj, operation=operation, uid=uid, old=old, user=user, dry_run=dry_run
        )
        reviews.append(Review(label, path, uid, _encoder.encode(document), bad, dry_run))
    return reviews
