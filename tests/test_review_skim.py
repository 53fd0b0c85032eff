"""Decoding a review without the object's managedFields (for policy sets that cannot read them)
gives what the full decode gives less that value, the same errors, and the same answers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings

from tests.conftest import DATA, POLICIES
from tests.strategies import managed_fields_bodies, review_bodies, valid_reviews
from webhook.engine import evaluate
from webhook.errors import ReviewError
from webhook.findings import Finding
from webhook.objecthead import ObjectHead, ObjectMeta
from webhook.policy.loader import load_policy_set
from webhook.review import AdmissionRequest, AdmissionReview, decode_review

JSONObject = dict[str, Any]
TODAY = date(2026, 6, 1)
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Policies none of whose rules reads managedFields: Pod Security, workloads, reliability.
BLIND_SET = load_policy_set(
    [POLICIES / "pod-security", POLICIES / "workloads", DATA / "reliability" / "policies"]
)
REVIEWS = DATA / "admission-reviews"
# A number out of range in the object's managedFields (the full decode's error) and a string
# that is not UTF-8 in the old object's (the only error left once the first is skipped).
OUT_OF_RANGE_THEN_NOT_UTF8 = (
    b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"e3e7",'
    b'"kind":{"version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1",'
    b'"resource":"pods"},"operation":"UPDATE","name":"demo","namespace":"default",'
    b'"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"demo",'
    b'"managedFields":[[],{"f:n":1e999}]},"spec":{"containers":[{"name":"app"}]}},'
    b'"oldObject":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"demo",'
    b'"managedFields":[[],"\xff"]},"spec":{"containers":[{"name":"app"}]}}}}'
)
ENVELOPE = (
    b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",'
    b'"kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":%s}}'
)
MANAGED = (
    b'[{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2025-03-14T09:26:53Z",'
    b'"fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:containers":{"k:{\\"name\\":\\"a\\"}":'
    b'{".":{},"f:image":{}}}}}}]'
)


def decoded(body: bytes, *, managed_fields: bool) -> AdmissionReview | str:
    """The review, or the reason of the ReviewError."""
    try:
        return decode_review(body, managed_fields=managed_fields)
    except ReviewError as error:
        return str(error)


def less_managed_fields(obj: JSONObject | None) -> JSONObject | None:
    """`obj` without metadata.managedFields (the rest shared)."""
    if obj is None or not isinstance(obj.get("metadata"), dict):
        return obj
    metadata = {key: value for key, value in obj["metadata"].items() if key != "managedFields"}
    return {**obj, "metadata": metadata}


def fields(request: AdmissionRequest) -> JSONObject:
    found = msgspec.structs.asdict(request)
    found.pop("new_object")
    return found


class _HeadRequest(msgspec.Struct):
    object: ObjectHead | None = None


class _HeadReview(msgspec.Struct):
    request: _HeadRequest


def skipped_value(body: bytes) -> bytes | None:
    """The JSON of the object's managedFields, as the skimming decode skipped it."""
    head = msgspec.json.decode(body, type=_HeadReview).request.object
    if head is None or not isinstance(head.metadata, ObjectMeta):
        return None
    managed = head.metadata.managedFields
    return bytes(managed) if isinstance(managed, msgspec.Raw) else None


def assert_same_as_full(body: bytes) -> None:
    full = decoded(body, managed_fields=True)
    skimmed = decoded(body, managed_fields=False)
    if isinstance(full, str):
        if skimmed == full:
            return
        # The one documented difference: a number out of range inside skipped managedFields.
        # The skimming decode then admits the body, or refuses it for a fault found later (an
        # oldObject that is not UTF-8, say): a 400 still, with that fault's reason.
        assert "out of range" in full
        skipped = skipped_value(body)
        assert skipped is not None
        with pytest.raises(msgspec.ValidationError, match="out of range"):
            msgspec.json.decode(skipped)
        return
    assert isinstance(skimmed, AdmissionReview), skimmed
    assert (skimmed.apiVersion, skimmed.kind) == (full.apiVersion, full.kind)
    assert isinstance(skimmed.request, AdmissionRequest)
    assert fields(skimmed.request) == fields(full.request)
    obj = skimmed.request.object
    metadata = obj.get("metadata") if obj is not None else None
    if isinstance(metadata, dict) and "managedFields" in metadata:
        assert obj == full.request.object  # decoded in full (not ASCII, or other keys)
    else:
        assert obj == less_managed_fields(full.request.object)


@PROPERTY
@given(body=managed_fields_bodies())
@example(body=OUT_OF_RANGE_THEN_NOT_UTF8)
def test_bodies_with_managed_fields_decode_as_in_full_less_them(body: bytes) -> None:
    assert_same_as_full(body)


@PROPERTY
@given(body=review_bodies())
def test_any_body_decodes_as_in_full(body: bytes) -> None:
    assert_same_as_full(body)


@PROPERTY
@given(body=managed_fields_bodies())
def test_a_set_that_cannot_read_managed_fields_gives_the_same_findings(body: bytes) -> None:
    full = decoded(body, managed_fields=True)
    skimmed = decoded(body, managed_fields=False)
    if isinstance(full, AdmissionReview) and isinstance(skimmed, AdmissionReview):
        assert findings(skimmed.request) == findings(full.request)


def findings(request: AdmissionRequest) -> list[Finding] | str:
    """The findings of BLIND_SET, or the error evaluating raised (an old object holding a
    number out of range fails when first read, whichever way the review was decoded)."""
    try:
        return evaluate(request, BLIND_SET, today=TODAY)
    except msgspec.ValidationError as error:
        return str(error)


def real_bodies() -> list[Path]:
    return sorted(path for path in REVIEWS.rglob("*.json"))


@pytest.mark.parametrize("path", real_bodies(), ids=lambda path: path.stem)
def test_real_reviews_and_objects(path: Path) -> None:
    data = path.read_bytes()
    document = json.loads(data)
    body = data if not isinstance(document, dict) or "metadata" not in document else ENVELOPE % data
    assert_same_as_full(body)
    skimmed = decoded(body, managed_fields=False)
    if isinstance(skimmed, AdmissionReview) and skimmed.request.object is not None:
        assert "managedFields" not in skimmed.request.object.get("metadata", {})
        assert findings(skimmed.request) == findings(decode_review(body).request)


def test_the_real_objects_carry_managed_fields() -> None:
    carrying = [path for path in real_bodies() if b'"managedFields"' in path.read_bytes()]
    assert len(carrying) >= 9


@PROPERTY
@given(review=valid_reviews())
def test_key_order_is_kept_for_the_api_servers_order(review: JSONObject) -> None:
    obj = review["request"].get("object")
    if isinstance(obj, dict):
        order = ["kind", "apiVersion", "metadata", "spec", "status"]
        obj = {key: obj[key] for key in order if key in obj} | obj
        review["request"]["object"] = obj
    skimmed = decode_review(msgspec.json.encode(review), managed_fields=False)
    if isinstance(obj, dict) and skimmed.request.object is not None:
        assert list(skimmed.request.object) == list(obj)
        if "metadata" in obj:
            assert list(skimmed.request.object["metadata"]) == list(obj["metadata"])


def test_an_object_with_other_keys_is_decoded_in_full() -> None:
    body = (
        ENVELOPE
        % b'{"kind":"Pod","metadata":{"name":"a","managedFields":%s},"extra":1}'
        % (MANAGED)
    )
    review = decode_review(body, managed_fields=False)
    assert review.request.object == json.loads(body)["request"]["object"]


def test_managed_fields_that_are_not_ascii_are_decoded_in_full() -> None:
    obj = b'{"kind":"Pod","metadata":{"name":"a","managedFields":[{"manager":"\xc3\xa9"}]}}'
    review = decode_review(ENVELOPE % obj, managed_fields=False)
    assert review.request.object == {
        "kind": "Pod",
        "metadata": {"name": "a", "managedFields": [{"manager": "\u00e9"}]},
    }


@pytest.mark.parametrize(
    ("managed", "reason"),
    [
        (b'[{"manager":"\xff"}]', "not valid JSON"),
        (b'[{"manager":"a"}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (b"[tru]", "not valid JSON"),
    ],
    ids=["invalid-utf8", "truncated", "deep", "bad-literal"],
)
def test_skipped_managed_fields_are_still_checked(managed: bytes, reason: str) -> None:
    body = ENVELOPE % b'{"kind":"Pod","metadata":{"managedFields":%s},"spec":{}}' % managed
    with pytest.raises(ReviewError, match=reason) as full:
        decode_review(body)
    with pytest.raises(ReviewError, match=reason) as skimmed:
        decode_review(body, managed_fields=False)
    assert str(skimmed.value) == str(full.value)


@pytest.mark.parametrize("number", [b"1e999", b"-1e400", b"1" + b"0" * 400 + b".0", b"7" * 5000])
def test_a_number_out_of_range_in_skipped_managed_fields_is_not_refused(number: bytes) -> None:
    """A documented difference: skipping checks the syntax of managedFields and that it is
    UTF-8, not the range of its numbers (the API server, which decoded the object, never
    sends such a number); a set that can read managedFields still answers 400."""
    managed = b'[{"manager":"a","fieldsV1":{"f:n":%s}}]' % number
    body = ENVELOPE % b'{"kind":"Pod","metadata":{"name":"a","managedFields":%s}}' % managed
    with pytest.raises(ReviewError, match="out of range"):
        decode_review(body)
    review = decode_review(body, managed_fields=False)
    assert review.request.object == {"kind": "Pod", "metadata": {"name": "a"}}
