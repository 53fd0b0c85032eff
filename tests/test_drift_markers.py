"""GitOps markers: which objects are managed from Git, and by what."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook.gitops.markers import ExtraMarker, MarkerSet, ObjectIdentity

DEPLOYMENT = ObjectIdentity("apps", "Deployment", "shop", "web")
NAMESPACE = ObjectIdentity("", "Namespace", "", "shop")


def obj(
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web", "namespace": "shop"}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    if owner:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "uid": "u",
                "controller": True,
            }
        ]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata}


TRACKING = "argocd.argoproj.io/tracking-id"
WEB_ID = "shop:apps/Deployment:shop/web"
INSTANCE = "app.kubernetes.io/instance"
KS_NAME = "kustomize.toolkit.fluxcd.io/name"
KS_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
HELM_RELEASE = "meta.helm.sh/release-name"

CASES: list[tuple[str, dict[str, Any], ObjectIdentity, list[str]]] = [
    ("tracking id", obj(annotations={TRACKING: WEB_ID}), DEPLOYMENT, ["Argo CD application shop"]),
    (
        "application in another namespace",
        obj(annotations={TRACKING: "team-a_shop:apps/Deployment:shop/web"}),
        DEPLOYMENT,
        ["Argo CD application team-a/shop"],
    ),
    (
        "tracking id of another object",
        obj(annotations={TRACKING: "shop:apps/Deployment:shop/api"}),
        DEPLOYMENT,
        [],
    ),
    (
        "tracking id of another kind",
        obj(annotations={TRACKING: "shop:apps/StatefulSet:shop/web"}),
        DEPLOYMENT,
        [],
    ),
    (
        "tracking id in another namespace",
        obj(annotations={TRACKING: "shop:apps/Deployment:other/web"}),
        DEPLOYMENT,
        [],
    ),
    (
        "malformed tracking id",
        obj(annotations={TRACKING: "shop;apps/Deployment/shop/web"}),
        DEPLOYMENT,
        [],
    ),
    (
        "cluster-scoped: the destination namespace is not compared",
        obj(annotations={TRACKING: "platform:/Namespace:argocd/shop"}),
        NAMESPACE,
        ["Argo CD application platform"],
    ),
    (
        "copied tracking id on a child",
        obj(annotations={TRACKING: WEB_ID}, owner=True),
        ObjectIdentity("apps", "ReplicaSet", "shop", "web-7d9c6b5f4d"),
        [],
    ),
    ("instance label", obj(labels={INSTANCE: "shop"}), DEPLOYMENT, ["Argo CD application shop"]),
    (
        "instance label inherited by a child",
        obj(labels={INSTANCE: "shop"}, owner=True),
        DEPLOYMENT,
        [],
    ),
    (
        "Helm's own instance label",
        obj(labels={INSTANCE: "ingress-nginx"}, annotations={HELM_RELEASE: "ingress-nginx"}),
        DEPLOYMENT,
        [],
    ),
    (
        "tracking id wins over the label",
        obj(
            labels={INSTANCE: "short"}, annotations={TRACKING: "long-name:apps/Deployment:shop/web"}
        ),
        DEPLOYMENT,
        ["Argo CD application long-name"],
    ),
    (
        "Flux Kustomization",
        obj(labels={KS_NAME: "apps", KS_NAMESPACE: "flux-system"}),
        DEPLOYMENT,
        ["Flux Kustomization flux-system/apps"],
    ),
    ("Flux label without its namespace", obj(labels={KS_NAME: "apps"}), DEPLOYMENT, []),
    (
        "Flux HelmRelease",
        obj(
            labels={
                "helm.toolkit.fluxcd.io/name": "podinfo",
                "helm.toolkit.fluxcd.io/namespace": "podinfo",
            }
        ),
        DEPLOYMENT,
        ["Flux HelmRelease podinfo/podinfo"],
    ),
    ("no markers", obj(labels={"app": "web"}), DEPLOYMENT, []),
]


@pytest.mark.parametrize(
    ("case", "manifest", "identity", "sources"), CASES, ids=[case[0] for case in CASES]
)
def test_sources(
    case: str, manifest: dict[str, Any], identity: ObjectIdentity, sources: list[str]
) -> None:
    assert [str(source) for source in MarkerSet().sources(manifest, identity)] == sources


def test_extra_markers_with_a_value_glob() -> None:
    markers = MarkerSet(
        extra=(
            ExtraMarker.build(
                where="annotation",
                key="configsync.gke.io/declared-version",
                value="v*",
                source="Config Sync ({value})",
            ),
        )
    )
    managed = obj(annotations={"configsync.gke.io/declared-version": "v1"})
    other = obj(annotations={"configsync.gke.io/declared-version": "none"})
    assert [str(s) for s in markers.sources(managed, DEPLOYMENT)] == ["Config Sync (v1)"]
    assert markers.sources(other, DEPLOYMENT) == ()


def test_values_list_every_recognized_marker() -> None:
    manifest = obj(labels={INSTANCE: "shop", "app": "web"}, annotations={TRACKING: "x"})
    values = {str(key): value for key, value in MarkerSet().values(manifest).items()}
    assert values == {f"annotation {TRACKING}": "x", f"label {INSTANCE}": "shop"}
    assert (
        MarkerSet(instance_label="").values(manifest).keys() != MarkerSet().values(manifest).keys()
    )


@given(st.text(max_size=80))
def test_any_tracking_id_is_parsed_or_ignored(value: str) -> None:
    sources = MarkerSet().sources(obj(annotations={TRACKING: value}), DEPLOYMENT)
    assert all(str(source).startswith("Argo CD application ") for source in sources)
