"""Hypothesis strategies for AdmissionReview bodies: valid ones, and every way to break them.

Valid reviews carry real-shaped objects of the kinds the engine knows (and some it does not);
broken ones have wrong types, missing fields, huge strings, deep nesting, invalid UTF-8, a null
request, or are not JSON at all. Sizes are bounded so every example stays fast.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import msgspec
from hypothesis import strategies as st

from tests.helpers import GROUPS, pod_spec, wrap

JSONObject = dict[str, Any]

KINDS = [*GROUPS, "Widget", "", "pod"]  # known kinds, one the engine does not know, and junk
OPERATIONS = ["CREATE", "UPDATE", "DELETE", "CONNECT"]
API_VERSIONS = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]
# A placeholder replaced in the encoded body by bytes that are not UTF-8.
INVALID_UTF8_MARKER = "INVALID-UTF8-HERE"
# A placeholder replaced in the encoded body by `depth` nested lists or objects.
DEEP_MARKER = "DEEP-NESTING"
INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]
# A placeholder replaced in the encoded body by a number a full decode refuses as out of range.
OUT_OF_RANGE_MARKER = "OUT-OF-RANGE-NUMBER"
OUT_OF_RANGE = [b"1e999", b"-2e308", b"1" + b"0" * 400 + b".5", b"7" * 5000]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

# Container fields the checks read, with values of the right shape or any JSON at all.
SECURITY_CONTEXT = st.fixed_dictionaries(
    {},
    optional={
        "runAsNonRoot": st.booleans() | json_values,
        "runAsUser": st.integers(min_value=-1, max_value=70000) | json_values,
        "privileged": st.booleans(),
        "allowPrivilegeEscalation": st.booleans(),
        "readOnlyRootFilesystem": st.booleans(),
        "capabilities": st.fixed_dictionaries(
            {}, optional={"add": st.lists(st.sampled_from(["NET_ADMIN", "ALL", "CHOWN"]))}
        )
        | json_values,
        "seccompProfile": st.fixed_dictionaries(
            {"type": st.sampled_from(["RuntimeDefault", "Unconfined", "Localhost"])}
        ),
    },
)
CONTAINER_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "image": st.sampled_from(
            ["nginx", "nginx:latest", "reg.example.com/app@sha256:" + "a" * 64, "", "::bad"]
        )
        | st.text(max_size=30),
        "securityContext": SECURITY_CONTEXT | json_values,
        "resources": st.fixed_dictionaries(
            {},
            optional={
                "requests": st.dictionaries(
                    st.sampled_from(["cpu", "memory"]),
                    st.sampled_from(["100m", "1Gi", "0", "-1", "1e3", "lots"]) | json_values,
                ),
                "limits": st.dictionaries(
                    st.sampled_from(["cpu", "memory"]),
                    st.sampled_from(["1", "2Gi", "99999999Ei"]) | json_values,
                ),
            },
        )
        | json_values,
        "ports": st.lists(st.fixed_dictionaries({"hostPort": st.integers(0, 70000)}), max_size=2)
        | json_values,
        "env": json_values,
    },
)


@st.composite
def kubernetes_objects(draw: st.DrawFn, kind: str | None = None) -> JSONObject:
    """A real-shaped object of `kind` (drawn when None); pod kinds get varied containers."""
    kind = kind if kind is not None else draw(st.sampled_from([k for k in KINDS if k]))
    container = draw(CONTAINER_FIELDS)
    spec = pod_spec(**container)
    if draw(st.booleans()):
        spec["hostNetwork"] = draw(st.booleans() | json_values)
    if draw(st.booleans()):
        spec["initContainers"] = [dict(spec["containers"][0], name="init")]
    if kind in GROUPS:
        obj = wrap(kind, spec, name=draw(st.sampled_from(["demo", "web-1", ""])))
    else:
        obj = {"apiVersion": "example.com/v1", "kind": kind, "metadata": {"name": "w"}}
        obj["spec"] = draw(json_values)
    if draw(st.booleans()):
        obj["metadata"]["labels"] = draw(
            st.dictionaries(st.sampled_from(["app", "team"]), st.text(max_size=8)) | json_values
        )
    if kind == "Secret":
        obj["data"] = {"password": "c2VjcmV0"}
    return obj


@st.composite
def valid_reviews(draw: st.DrawFn) -> JSONObject:
    """An AdmissionReview the API server could send."""
    kind = draw(st.sampled_from([k for k in KINDS if k]))
    operation = draw(st.sampled_from(OPERATIONS))
    obj = draw(kubernetes_objects(kind))
    group, version = GROUPS.get(kind, ("example.com", "v1"))
    request: JSONObject = {
        "uid": draw(st.uuids()).hex,
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
        "operation": operation,
        "name": obj["metadata"].get("name", ""),
        "namespace": draw(st.sampled_from(["default", "kube-system", "team-a", ""])),
        "userInfo": {
            "username": draw(st.sampled_from(["alice", "system:serviceaccount:ci:deployer"])),
            "groups": ["system:authenticated"],
        },
        "dryRun": draw(st.booleans()),
    }
    if operation == "DELETE":
        request["oldObject"] = obj
    elif operation == "UPDATE":
        request["object"] = obj
        request["oldObject"] = draw(kubernetes_objects(kind))
    elif operation == "CREATE" or draw(st.booleans()):
        request["object"] = obj
    if operation == "CONNECT":
        request["object"] = {"apiVersion": "v1", "kind": "PodExecOptions", "command": ["sh"]}
    return {
        "apiVersion": draw(st.sampled_from(API_VERSIONS)),
        "kind": "AdmissionReview",
        "request": request,
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths.extend(_paths(child, (*prefix, index)))
    return paths


def _replace(document: Any, path: tuple[Any, ...], value: Any, *, delete: bool = False) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


def _nested(marker: bytes) -> bytes:
    """The JSON a deep-nesting marker stands for (encoded in place: no encoder recursion)."""
    _, shape, depth = marker.decode().split(":")
    opening, closing = (b"[", b"]") if shape == "list" else (b'{"a":', b"}")
    return opening * int(depth) + b"1" + closing * int(depth)


@st.composite
def broken_reviews(draw: st.DrawFn) -> JSONObject | Any:
    """A valid review with one to three fields damaged: deleted, retyped, huge or deep."""
    review: Any = copy.deepcopy(draw(valid_reviews()))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(review)
        path = draw(st.sampled_from(paths))
        damage = draw(st.sampled_from(["delete", "retype", "huge", "deep", "null", "invalid-utf8"]))
        if damage == "delete" and path:
            review = _replace(review, path, None, delete=True)
        elif damage == "retype":
            review = _replace(review, path, draw(json_values))
        elif damage == "huge":
            review = _replace(review, path, "x" * draw(st.integers(10_000, 2_000_000)))
        elif damage == "deep":
            depth = draw(st.integers(50, 3000))
            shape = draw(st.sampled_from(["list", "dict"]))
            review = _replace(review, path, f"{DEEP_MARKER}:{shape}:{depth}")
        elif damage == "null":
            review = _replace(review, path, None)
        else:
            review = _replace(review, path, INVALID_UTF8_MARKER)
    if draw(st.booleans()) and isinstance(review, dict):
        review["request"] = draw(st.none() | json_values | st.just({}))
    return review


def _encoded(draw: st.DrawFn, review: Any) -> bytes:
    """The JSON of `review` with its markers replaced by the bytes they stand for."""
    body = msgspec.json.encode(review)
    if INVALID_UTF8_MARKER.encode() in body:
        body = body.replace(INVALID_UTF8_MARKER.encode(), draw(st.sampled_from(INVALID_UTF8)))
    if OUT_OF_RANGE_MARKER.encode() in body:
        number = draw(st.sampled_from(OUT_OF_RANGE))
        body = body.replace(b'"%s"' % OUT_OF_RANGE_MARKER.encode(), number)
    return re.sub(rb'"DEEP-NESTING:\w+:\d+"', lambda match: _nested(match[0][1:-1]), body)


@st.composite
def review_bodies(draw: st.DrawFn) -> bytes:
    """The bytes of a request body: a valid or broken review, or not JSON at all."""
    shape = draw(st.sampled_from(["valid", "broken", "broken", "truncated", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=200))
    review = draw(valid_reviews() if shape == "valid" else broken_reviews())
    body = _encoded(draw, review)
    if shape == "truncated":
        body = body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    return body


# managedFields as the API server writes them: one entry per manager, with a FieldsV1 tree
# of `f:` (field), `k:` (list item by key, JSON in the key), `v:` (list item by value) keys.
ASCII = st.text(st.characters(max_codepoint=127), max_size=8)
FIELD_KEYS = (
    st.sampled_from(["f:metadata", "f:spec", "f:labels", "f:containers", "f:image", "."])
    | ASCII.map(lambda name: f'k:{{"name":{msgspec.json.encode(name).decode()}}}')
    | st.integers(0, 65535).map(lambda port: f'k:{{"containerPort":{port},"protocol":"TCP"}}')
    | st.text(max_size=8).map(lambda value: "v:" + msgspec.json.encode(value).decode())
)
FIELDS_V1: st.SearchStrategy[Any] = st.recursive(
    st.just({}), lambda children: st.dictionaries(FIELD_KEYS, children, max_size=4), max_leaves=16
)
MANAGED_FIELDS_ENTRY = st.fixed_dictionaries(
    {
        "manager": st.sampled_from(["kube-controller-manager", "kubelet", "kubectl"])
        | st.text(max_size=10),
        "operation": st.sampled_from(["Update", "Apply"]),
        "apiVersion": st.sampled_from(["v1", "apps/v1"]),
        "time": st.just("2025-03-14T09:26:53Z"),
        "fieldsType": st.just("FieldsV1"),
        "fieldsV1": FIELDS_V1,
    },
    optional={"subresource": st.sampled_from(["status", "scale"])},
)
MANAGED_FIELDS = st.lists(MANAGED_FIELDS_ENTRY, max_size=3) | json_values
# Keys added to an object and to its metadata: some the API's types have, some they do not
# (custom resources, hand-written bodies).
OTHER_METADATA_KEYS = ["uid", "generation", "finalizers", "ownerReferences", "clusterName", "x"]
OTHER_TOP_KEYS = ["status", "data", "rules", "webhooks", "template", "x-extra"]


def _one_in(count: int) -> st.SearchStrategy[bool]:
    """True about once in `count` draws (integers would favour the bounds)."""
    return st.sampled_from([False] * (count - 1) + [True])


def _damaged_managed_fields(draw: st.DrawFn) -> Any:
    """A managedFields value, now and then with something a full decode refuses inside."""
    value = draw(MANAGED_FIELDS)
    damage = draw(st.sampled_from([None] * 6 + ["invalid-utf8", "out-of-range", "deep"]))
    if damage == "invalid-utf8":
        value = [value, INVALID_UTF8_MARKER]
    elif damage == "out-of-range":
        value = [value, {"f:n": OUT_OF_RANGE_MARKER}]
    elif damage == "deep":
        depth = draw(st.integers(50, 3000))
        value = [value, f"{DEEP_MARKER}:{draw(st.sampled_from(['list', 'dict']))}:{depth}"]
    return value


@st.composite
def managed_fields_bodies(draw: st.DrawFn) -> bytes:
    """A valid or broken review whose objects carry managedFields (realistic, any JSON, or
    holding what a full decode refuses), sometimes with other keys in them or their metadata."""
    broken = draw(_one_in(4))
    review: Any = copy.deepcopy(draw(broken_reviews() if broken else valid_reviews()))
    request = review.get("request") if isinstance(review, dict) else None
    for key in ("object", "oldObject"):
        obj = request.get(key) if isinstance(request, dict) else None
        if not isinstance(obj, dict):
            continue
        metadata = obj.setdefault("metadata", {})
        if isinstance(metadata, dict):
            if not draw(_one_in(4)):
                metadata["managedFields"] = _damaged_managed_fields(draw)
            if draw(_one_in(4)):
                metadata[draw(st.sampled_from(OTHER_METADATA_KEYS))] = draw(json_values)
        if draw(_one_in(4)):
            obj[draw(st.sampled_from(OTHER_TOP_KEYS))] = draw(json_values)
    body = _encoded(draw, review)
    if draw(_one_in(10)):
        body = body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    return body
