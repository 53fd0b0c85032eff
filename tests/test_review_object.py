"""The new object of a review: kept as its head by the skimming decode and built on first read;
decoded in full, or built in code, it is the object itself."""

from __future__ import annotations

from datetime import date

import msgspec

from tests.conftest import POLICIES
from tests.helpers import request as request_for
from webhook.engine import evaluate
from webhook.objecthead import ObjectHead
from webhook.policy.loader import load_policy_set
from webhook.review import decode_review, request_for_manifest

ENVELOPE = (
    b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",'
    b'"kind":{"kind":"%s"},"operation":"%s","object":%s}}'
)
POD = (
    b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","labels":{"v":"1"},'
    b'"managedFields":[{"manager":"kubectl","operation":"Update"}]},'
    b'"spec":{"containers":[{"name":"app","image":"app:1"}]}}'
)
CONFIG_MAP = (
    b'{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a",'
    b'"managedFields":[{"manager":"kubectl"}]},"data":{"k":"v"}}'
)
POD_SECURITY = load_policy_set([POLICIES / "pod-security"])
TODAY = date(2026, 6, 1)


def test_a_skimmed_object_is_built_on_first_read_and_kept() -> None:
    request = decode_review(ENVELOPE % (b"Pod", b"CREATE", POD), managed_fields=False).request
    assert isinstance(request.new_object, ObjectHead)
    assert "object" not in request.__dict__  # not built yet
    obj = request.object
    assert obj == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "a", "labels": {"v": "1"}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }
    assert request.object is obj
    assert request.subject is obj


def test_an_object_no_rule_reads_is_never_built() -> None:
    body = ENVELOPE % (b"ConfigMap", b"CREATE", CONFIG_MAP)
    request = decode_review(body, managed_fields=False).request
    assert evaluate(request, POD_SECURITY, today=TODAY) == []
    assert "object" not in request.__dict__
    assert request.object == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "a"},
        "data": {"k": "v"},
    }


def test_a_skimmed_pod_is_evaluated_as_one_decoded_in_full() -> None:
    body = ENVELOPE % (b"Pod", b"CREATE", POD)
    skimmed = decode_review(body, managed_fields=False).request
    full = decode_review(body).request
    assert evaluate(skimmed, POD_SECURITY, today=TODAY) == evaluate(full, POD_SECURITY, today=TODAY)
    assert "object" in skimmed.__dict__


def test_an_object_decoded_in_full_is_the_object_itself() -> None:
    request = decode_review(ENVELOPE % (b"Pod", b"CREATE", POD)).request
    assert isinstance(request.new_object, dict)
    assert request.object is request.new_object
    assert request.object["metadata"]["managedFields"] == [
        {"manager": "kubectl", "operation": "Update"}
    ]


def test_no_object_reads_as_none() -> None:
    body = ENVELOPE % (b"Pod", b"CONNECT", b"null")
    for managed_fields in (True, False):
        request = decode_review(body, managed_fields=managed_fields).request
        assert request.new_object is None
        assert request.object is None


def test_a_request_built_in_code_carries_its_object() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "a"}}
    request = request_for(pod)
    assert request.object is pod
    other = {"kind": "Pod", "metadata": {"name": "b"}}
    replaced = msgspec.structs.replace(request, new_object=other)
    assert replaced.object is other  # the first request's object is not carried over
    assert request.object is pod
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert request_for_manifest(manifest).object is manifest
