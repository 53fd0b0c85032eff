"""Desired-state comparison: only Git's fields, with the API server's normalizations."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.drift_helpers import RENDERED, REVIEWS
from webhook.desired.compare import differences
from webhook.desired.equality import equivalent
from webhook.gitops.fields import (
    MISSING,
    SERVER_FIELD_SET,
    FieldSet,
    changed_paths,
    parse_pointer,
    pointer,
)
from webhook.manifests import read_source

SKIP = SERVER_FIELD_SET


def git_object(file: str, kind: str) -> dict[str, Any]:
    manifests = read_source(str(RENDERED / file)).manifests
    return next(m.object for m in manifests if m.object["kind"] == kind)


def live_object(review: str) -> dict[str, Any]:
    request = json.loads((REVIEWS / f"{review}.json").read_text())["request"]
    return dict(request["oldObject"])


def paths(git: Any, live: Any, skip: FieldSet = SKIP) -> list[str]:
    return [pointer(item.path) for item in differences(git, live, skip=skip)]


@pytest.mark.parametrize(
    ("file", "kind", "review"),
    [
        ("shop/web.yaml", "Deployment", "kubectl-edit"),
        ("podinfo/podinfo.json", "Deployment", "flux-apply"),
    ],
)
def test_rendered_manifest_equals_the_object_with_server_defaults(
    file: str, kind: str, review: str
) -> None:
    # The live objects carry defaults (strategy, probes, dnsPolicy, protocol, ...), status,
    # managedFields, and normalized quantities (1000m -> 1, 0.25Gi -> 256Mi, 0.1 -> 100m).
    assert paths(git_object(file, kind), live_object(review)) == []


def test_a_changed_field_is_reported_with_both_values() -> None:
    live = live_object("kubectl-edit")
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "web:9"
    (difference,) = differences(git_object("shop/web.yaml", "Deployment"), live, skip=SKIP)
    assert pointer(difference.path) == "/spec/template/spec/containers/0/image"
    assert difference.git == "registry.example.com/shop/web:1.4.2"
    assert difference.requested == "web:9"


def container(**fields: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", **fields}]}}


CASES: list[tuple[str, Any, Any, list[str]]] = [
    ("extra live fields are defaults", {"a": 1}, {"a": 1, "b": 2}, []),
    ("missing field", {"a": 1}, {}, ["/a"]),
    (
        "zero value omitted by the server",
        {"spec": {"hostNetwork": False, "volumes": [], "x": {}}},
        {"spec": {}},
        [],
    ),
    (
        "quantity",
        container(resources={"limits": {"cpu": "1000m", "memory": "1Gi"}}),
        container(resources={"limits": {"cpu": "1", "memory": "1024Mi"}}),
        [],
    ),
    (
        "different quantity",
        container(resources={"requests": {"cpu": "1"}}),
        container(resources={"requests": {"cpu": "999m"}}),
        ["/spec/containers/0/resources/requests/cpu"],
    ),
    (
        "quantity-like text elsewhere stays text",
        {"metadata": {"labels": {"version": "1.0"}}},
        {"metadata": {"labels": {"version": "1"}}},
        ["/metadata/labels/version"],
    ),
    (
        "int-or-string port",
        {"spec": {"ports": [{"port": 80, "targetPort": "8080"}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}},
        [],
    ),
    ("int and string elsewhere differ", {"data": {"n": "80"}}, {"data": {"n": 80}}, ["/data/n"]),
    ("integer and float", {"a": 1}, {"a": 1.0}, []),
    (
        "image pinned by digest",
        container(image="reg/app:1.0"),
        container(image="reg/app:1.0@sha256:" + "a" * 64),
        [],
    ),
    (
        "image with another tag",
        container(image="reg/app:1.0"),
        container(image="reg/app:1.1@sha256:" + "a" * 64),
        ["/spec/containers/0/image"],
    ),
    (
        "keyed list in another order",
        {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]},
        [],
    ),
    (
        "keyed list item changed",
        {"env": [{"name": "A", "value": "1"}]},
        {"env": [{"name": "B", "value": "2"}, {"name": "A", "value": "3"}]},
        ["/env/1/value"],
    ),
    ("keyed list item removed", {"env": [{"name": "A", "value": "1"}]}, {"env": []}, ["/env"]),
    (
        "items Git does not name are not Git's",
        {"env": [{"name": "A"}]},
        {"env": [{"name": "A"}, {"name": "INJECTED"}]},
        [],
    ),
    ("list of scalars is compared whole", {"args": ["a", "b"]}, {"args": ["a"]}, ["/args"]),
    ("list of scalars item", {"args": ["a", "b"]}, {"args": ["a", "c"]}, ["/args/1"]),
    ("map replaced by a scalar", {"a": {"b": 1}}, {"a": "x"}, ["/a"]),
    (
        "server fields",
        {"metadata": {"resourceVersion": "1", "uid": "u"}, "status": {"x": 1}},
        {"metadata": {"resourceVersion": "2", "uid": "v"}, "status": {"x": 2}},
        [],
    ),
]


@pytest.mark.parametrize(("case", "git", "live", "expected"), CASES, ids=[c[0] for c in CASES])
def test_comparison(case: str, git: Any, live: Any, expected: list[str]) -> None:
    assert paths(git, live) == expected


def test_missing_keyed_item_names_its_key() -> None:
    (difference,) = differences({"env": [{"name": "A"}]}, {"env": []}, skip=SKIP)
    assert difference.item == "name=A" and difference.requested is MISSING


def test_writable_fields_are_not_compared() -> None:
    git, live = {"spec": {"replicas": 3}}, {"spec": {"replicas": 7}}
    assert paths(git, live, SKIP + FieldSet.parse(["/spec/replicas"])) == []
    assert paths(git, live) == ["/spec/replicas"]


def test_secret_string_data_is_compared_with_data() -> None:
    git = {"apiVersion": "v1", "kind": "Secret", "stringData": {"password": "s3cret"}}
    encoded = base64.b64encode(b"s3cret").decode()
    assert paths(git, {"apiVersion": "v1", "kind": "Secret", "data": {"password": encoded}}) == []
    other = base64.b64encode(b"other").decode()
    assert paths(git, {"apiVersion": "v1", "kind": "Secret", "data": {"password": other}}) == [
        "/data/password"
    ]


def test_sops_encrypted_values_are_not_compared() -> None:
    git = {
        "kind": "Secret",
        "apiVersion": "v1",
        "data": {"k": "ENC[AES256_GCM,data:x]"},
        "sops": {},
    }
    assert paths(git, {"kind": "Secret", "apiVersion": "v1", "data": {"k": "cGxhaW4="}}) == []


def test_changed_paths_between_versions() -> None:
    old = {"metadata": {"resourceVersion": "1"}, "spec": {"a": [1, 2], "b": {"c": 1}}}
    new = {"metadata": {"resourceVersion": "2"}, "spec": {"a": [1, 2, 3], "b": {"c": 2, "d": 1}}}
    found = [pointer(path) for path in changed_paths(old, new, skip=SKIP)]
    assert found == ["/spec/a", "/spec/b/c", "/spec/b/d"]


def test_a_map_that_appears_lists_its_fields() -> None:
    old: dict[str, Any] = {"metadata": {}}
    new = {"metadata": {"annotations": {"a/b": "1"}}}
    assert [pointer(p) for p in changed_paths(old, new, skip=SKIP)] == [
        "/metadata/annotations/a~1b"
    ]


def test_field_patterns() -> None:
    fields = FieldSet.parse(["/spec/template/spec/containers/*/image", "/status"])
    assert fields.covers(("spec", "template", "spec", "containers", "3", "image"))
    assert fields.covers(("status", "conditions"))
    assert not fields.covers(("spec", "template", "spec", "containers", "3", "name"))
    assert not fields.covers(("spec",))


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()


@given(
    json_scalars,
    json_scalars,
    st.sampled_from(["cpu", "port", "image", "value", "x"]),
    st.sampled_from(["limits", "target", "ports", "spec"]),
)
def test_equivalence_never_raises_and_is_reflexive(
    git: Any, live: Any, key: str, parent: str
) -> None:
    path = ("spec", parent, key)
    assert isinstance(equivalent(git, live, path), bool)
    assert equivalent(git, git, path)


@given(st.lists(st.text(min_size=1), min_size=1, max_size=5))
def test_pointers_round_trip(tokens: list[str]) -> None:
    assert parse_pointer(pointer(tokens)) == tuple(tokens)


@given(st.text())
def test_any_text_is_a_pointer_or_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_pointer(text)
