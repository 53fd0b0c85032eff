"""The old object of a review: decoded on first read, refused at decode time when malformed."""

from __future__ import annotations

import pytest

from tests.helpers import request as request_for
from webhook.cel import compile_expression
from webhook.checks.expression import expression_check
from webhook.engine import build_context
from webhook.errors import ReviewError
from webhook.review import decode_review, with_old_object

ENVELOPE = (
    b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",'
    b'"kind":{"kind":"ConfigMap"},"operation":"%s","object":%s,"oldObject":%s}}'
)
NEW = b'{"kind":"ConfigMap","metadata":{"name":"a","labels":{"v":"2"}}}'
OLD = b'{"kind":"ConfigMap","metadata":{"name":"a","labels":{"v":"1"}}}'


def test_the_old_object_is_decoded_on_first_read_and_kept() -> None:
    request = decode_review(ENVELOPE % (b"UPDATE", NEW, OLD)).request
    assert "oldObject" not in request.__dict__  # still raw JSON
    old = request.oldObject
    assert old == {"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"v": "1"}}}
    assert request.oldObject is old


@pytest.mark.parametrize("old", [b"null", None])
def test_no_old_object_reads_as_none(old: bytes | None) -> None:
    body = ENVELOPE % (b"CREATE", NEW, old or b"null")
    if old is None:
        body = body.replace(b',"oldObject":null', b"")
    assert decode_review(body).request.oldObject is None


@pytest.mark.parametrize(
    ("old", "reason"),
    [
        (b"[1,2]", "Expected `object | null`"),
        (b'"text"', "Expected `object | null`"),
        (b"5", "Expected `object | null`"),
        (b'{"a":"\xff"}', "a string is not UTF-8"),
        (b'{"a":', "not valid JSON"),
    ],
)
def test_a_malformed_old_object_is_the_callers_error(old: bytes, reason: str) -> None:
    with pytest.raises(ReviewError, match=reason):
        decode_review(ENVELOPE % (b"UPDATE", NEW, old))


def test_a_delete_with_only_the_old_object_evaluates_it() -> None:
    body = ENVELOPE % (b"DELETE", b"null", OLD)
    request = decode_review(body).request
    assert request.subject["metadata"]["labels"] == {"v": "1"}
    with pytest.raises(ReviewError, match="neither object nor oldObject"):
        decode_review(ENVELOPE % (b"DELETE", b"null", b"null"))


def test_a_request_built_in_code_carries_its_old_object() -> None:
    new = {"kind": "ConfigMap", "metadata": {"name": "a"}}
    request = with_old_object(
        request_for(new, operation="UPDATE", old={"kind": "Old"}), {"kind": "ConfigMap"}
    )
    assert request.oldObject == {"kind": "ConfigMap"}
    assert with_old_object(request, None).oldObject is None


def test_cel_decodes_the_old_object_only_for_programs_that_read_it() -> None:
    reads = expression_check(
        compile_expression("object.metadata.labels.v != oldObject.metadata.labels.v"),
        "label v must change",
        (),
        {},
    )
    ignores = expression_check(
        compile_expression("object.metadata.name == 'a'"), "name must be a", (), {}
    )
    request = decode_review(ENVELOPE % (b"UPDATE", NEW, OLD)).request
    context = build_context(request)
    assert ignores.run(context) == []
    assert "oldObject" not in request.__dict__
    assert reads.run(context) == []
    assert request.__dict__["oldObject"]["metadata"]["labels"] == {"v": "1"}
    same = decode_review(ENVELOPE % (b"UPDATE", NEW, NEW)).request
    (violation,) = reads.run(build_context(same))
    assert violation.message == "label v must change"
