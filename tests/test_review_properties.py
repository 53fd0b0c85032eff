"""Any request body yields a decision or one ReviewError: never another exception, never a hang."""

from __future__ import annotations

from datetime import date

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DATA, POLICIES
from tests.strategies import review_bodies, valid_reviews
from webhook.decision import Decision, decide
from webhook.engine import evaluate
from webhook.errors import ReviewError
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.review import API_VERSIONS, decode_review, encode_admitted, encode_response

TODAY = date(2026, 6, 1)
PROPERTY = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
POLICY_SET = load_policy_set([POLICIES, DATA / "reliability" / "policies"])
ENVELOPE = (
    b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",'
    b'"kind":{"kind":"Pod"},"operation":"CREATE","object":%s}}'
)


def admit(body: bytes, policies: PolicySet = POLICY_SET) -> Decision:
    """What the webhook does with a body; raises ReviewError for a malformed one."""
    review = decode_review(body)
    decision = decide(evaluate(review.request, policies, today=TODAY))
    response = encode_response(
        api_version=review.apiVersion,
        uid=review.request.uid,
        allowed=decision.allowed,
        message=None if decision.allowed else decision.message(),
        code=None if decision.allowed else 403,
        warnings=decision.warning_texts(),
        audit_annotations=decision.audit_annotations,
    )
    assert msgspec.json.decode(response)["response"]["uid"] == review.request.uid
    return decision


@PROPERTY
@given(body=review_bodies())
def test_any_body_gives_a_decision_or_a_review_error(body: bytes) -> None:
    try:
        decision = admit(body)
    except ReviewError as error:
        assert str(error)
    else:
        assert decision.allowed == (not decision.denials)


@PROPERTY
@given(review=valid_reviews())
def test_every_valid_review_gets_a_decision(review: dict[str, object]) -> None:
    decision = admit(msgspec.json.encode(review))
    assert isinstance(decision, Decision)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (ENVELOPE % (b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "nests too deeply"),
        (ENVELOPE % (b'{"a":' * 100_000 + b"1" + b"}" * 100_000), "nests too deeply"),
        (ENVELOPE % b'{"metadata":{"name":"\xff"}}', "not valid JSON"),
        (ENVELOPE % b"[]", "invalid AdmissionReview"),
        (
            b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}',
            "request",
        ),
        (b"\x00\x01binary", "not valid JSON"),
    ],
    ids=[
        "deep-lists",
        "deep-objects",
        "invalid-utf8",
        "object-not-a-mapping",
        "null-request",
        "binary",
    ],
)
def test_hostile_bodies_are_review_errors(body: bytes, reason: str) -> None:
    with pytest.raises(ReviewError, match=reason):
        admit(body)


def test_huge_string_is_still_decided() -> None:
    body = ENVELOPE % b'{"metadata":{"name":"%s"},"spec":{"containers":[]}}' % (b"x" * 3_000_000)
    assert not admit(body).allowed


@PROPERTY
@given(api_version=st.text(), uid=st.text())
def test_a_plain_allowed_answer_is_the_encoded_response_document(
    api_version: str, uid: str
) -> None:
    """The bytes of an answer that only admits are those of its whole document encoded."""
    document = {
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": True},
    }
    found = encode_response(api_version=api_version, uid=uid, allowed=True, warnings=[])
    assert found == msgspec.json.encode(document)
    assert msgspec.json.decode(found) == document
    assert encode_admitted(api_version, uid) == found


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_a_plain_allowed_answer_of_a_known_version_is_the_encoded_response_document(
    api_version: str,
) -> None:
    uid = 'a"b\\c\u00e9'
    document = {
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": True},
    }
    assert encode_admitted(api_version, uid) == msgspec.json.encode(document)
