"""Any object shape: the drift code answers with violations or nothing, never an exception."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.drift_helpers import review
from tests.strategies import json_values
from webhook.desired.compare import differences
from webhook.gitops.fields import SERVER_FIELD_SET, changed_paths
from webhook.gitops.markers import MarkerSet, ObjectIdentity
from webhook.gitops.ownership import ownership_violations
from webhook.review import with_old_object

MARKER_KEYS = st.sampled_from(
    [
        "argocd.argoproj.io/tracking-id",
        "app.kubernetes.io/instance",
        "kustomize.toolkit.fluxcd.io/name",
        "kustomize.toolkit.fluxcd.io/namespace",
        "meta.helm.sh/release-name",
    ]
)
METADATA = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=8) | json_values,
        "labels": st.dictionaries(MARKER_KEYS, st.text(max_size=30) | json_values) | json_values,
        "annotations": st.dictionaries(MARKER_KEYS, st.text(max_size=30)) | json_values,
        "ownerReferences": st.lists(
            st.fixed_dictionaries({}, optional={"controller": st.booleans() | json_values})
        )
        | json_values,
    },
)
OBJECTS = st.fixed_dictionaries(
    {"apiVersion": st.just("apps/v1"), "kind": st.just("Deployment")},
    optional={"metadata": METADATA | json_values, "spec": json_values},
)
IDENTITY = ObjectIdentity("apps", "Deployment", "shop", "web")


@settings(max_examples=200)
@given(OBJECTS, OBJECTS)
def test_markers_and_ownership_take_any_shape(old: dict[str, Any], new: dict[str, Any]) -> None:
    markers = MarkerSet()
    assert all(str(source) for source in markers.sources(new, IDENTITY))
    assert isinstance(markers.values(new), dict)
    request = with_old_object(msgspec.structs.replace(review("kubectl-edit"), new_object=new), old)
    for violation in ownership_violations(
        request, obj=new, group="apps", kind="Deployment", markers=markers, skip=SERVER_FIELD_SET
    ):
        assert violation.message


@settings(max_examples=200)
@given(json_values, json_values)
def test_comparisons_take_any_shape(git: Any, live: Any) -> None:
    git_object = {"apiVersion": "v1", "kind": "Secret", "spec": git, "stringData": git}
    found = differences(git_object, {"spec": live, "data": live}, skip=SERVER_FIELD_SET)
    assert all(isinstance(item.path, tuple) for item in found)
    assert differences({"spec": git}, {"spec": git}, skip=SERVER_FIELD_SET) == []
    assert list(changed_paths(git, git, skip=SERVER_FIELD_SET)) == []
