"""AdmissionReview (admission.k8s.io/v1 and v1beta1): decoding requests, encoding responses.

The body is decoded once, with msgspec, into typed structures; the Kubernetes objects inside
stay plain JSON values and get their typed views in `workload`. When no rule can read the
object's `metadata.managedFields`, the decode skips that value (see `objecthead`) and the
object's dict is built on first read.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import Any

import msgspec

from webhook.errors import ReviewError
from webhook.objecthead import ObjectHead, skippable, without_managed_fields

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
REASONS = {403: "Forbidden", 429: "TooManyRequests"}  # status.reason of a denial, by code

JSONObject = dict[str, Any]


class GroupVersionKind(msgspec.Struct, frozen=True):
    group: str = ""
    version: str = ""
    kind: str = ""


class GroupVersionResource(msgspec.Struct, frozen=True):
    group: str = ""
    version: str = ""
    resource: str = ""


class UserInfo(msgspec.Struct, frozen=True):
    username: str = ""
    uid: str = ""
    groups: list[str] = msgspec.field(default_factory=list)
    extra: dict[str, list[str]] = msgspec.field(default_factory=dict)


_NO_JSON = msgspec.Raw(b"null")
_OPEN = ord("{")  # the first byte of an object's JSON
_OLD_SET = msgspec.Raw(b"{}")  # a placeholder: the old object itself is set on the instance
_object_decoder = msgspec.json.Decoder(dict[str, Any])


class AdmissionRequest(msgspec.Struct, frozen=True, dict=True):
    """The `request` of an AdmissionReview: what is being admitted and by whom.

    `object` is read from `new_object`: the object itself, or its head as the skimming decode
    left it (its dict built on first read: requests no rule evaluates never build it).
    `oldObject` stays raw JSON until first read (most rules never read it); a request built in
    code gets it with `with_old_object`.
    """

    uid: str
    kind: GroupVersionKind
    operation: str
    resource: GroupVersionResource = GroupVersionResource()
    subResource: str = ""
    requestKind: GroupVersionKind | None = None
    requestResource: GroupVersionResource | None = None
    requestSubResource: str = ""
    name: str = ""
    namespace: str = ""
    userInfo: UserInfo = UserInfo()
    new_object: ObjectHead | JSONObject | None = msgspec.field(default=None, name="object")
    old_json: msgspec.Raw = msgspec.field(default=_NO_JSON, name="oldObject")
    dryRun: bool = False
    options: JSONObject | None = None

    @functools.cached_property
    def object(self) -> JSONObject | None:
        """The new object (None for DELETE and CONNECT), built from its head on first read."""
        new = self.new_object
        if type(new) is ObjectHead:
            return without_managed_fields(new)
        return new

    @functools.cached_property
    def oldObject(self) -> JSONObject | None:
        """The old object (UPDATE, DELETE), decoded from its JSON on first read."""
        if self.old_json == _NO_JSON or not self.old_json:
            return None
        return _object_decoder.decode(self.old_json)

    @property
    def subject(self) -> JSONObject:
        """The object the rules look at: the new object, or the old one for DELETE."""
        if self.object is not None:
            return self.object
        return self.oldObject or {}

    def as_cel_value(self) -> JSONObject:
        """The request as CEL's `request` variable (without the objects, as Kubernetes does)."""
        return {
            "uid": self.uid,
            "kind": msgspec.structs.asdict(self.kind),
            "resource": msgspec.structs.asdict(self.resource),
            "subResource": self.subResource,
            "name": self.name,
            "namespace": self.namespace,
            "operation": self.operation,
            "userInfo": {
                "username": self.userInfo.username,
                "uid": self.userInfo.uid,
                "groups": list(self.userInfo.groups),
                "extra": dict(self.userInfo.extra),
            },
            "dryRun": self.dryRun,
        }


class AdmissionReview(msgspec.Struct, frozen=True):
    apiVersion: str
    kind: str
    request: AdmissionRequest


class _DecodedRequest(AdmissionRequest, frozen=True, dict=True):
    """An AdmissionRequest whose object is decoded in full."""

    new_object: JSONObject | None = msgspec.field(default=None, name="object")


class _DecodedReview(AdmissionReview, frozen=True):
    request: _DecodedRequest


class _SkimmedRequest(AdmissionRequest, frozen=True, dict=True):
    """An AdmissionRequest whose object is decoded into an ObjectHead (managedFields raw)."""

    new_object: ObjectHead | None = msgspec.field(default=None, name="object")


class _SkimmedReview(AdmissionReview, frozen=True):
    request: _SkimmedRequest


_review_decoder = msgspec.json.Decoder(_DecodedReview)
_skimmed_decoder = msgspec.json.Decoder(_SkimmedReview)
_json_encoder = msgspec.json.Encoder()


def decode_review(
    body: bytes,
    *,
    managed_fields: bool = True,
    projected: msgspec.json.Decoder[AdmissionReview] | None = None,
) -> AdmissionReview:
    """Decode an AdmissionReview request body; raises ReviewError with an actionable reason.

    With `managed_fields=False` the object comes without `metadata.managedFields` when it can
    be skipped (else in full), for policy sets none of whose rules can read it. A `projected`
    decoder (webhook.projection) builds only the parts of the object the policy set reads,
    for a body it can take (else the object comes as without it).
    """
    # Projected: a body that is ASCII (skipped strings are not checked for UTF-8) and that the
    # projection takes; any error is left to the decodes below, which raise (or not) as always.
    if projected is not None and body.isascii():
        try:
            review = projected.decode(body)
        except Exception:
            pass
        else:
            return _checked(review, ascii_body=True)
    skimmed = None if managed_fields else _skimmed(body)
    return _checked(skimmed if skimmed is not None else _decoded(body), ascii_body=False)


def _checked(review: AdmissionReview, *, ascii_body: bool) -> AdmissionReview:
    """`review` when it is a request the webhook can answer; raises ReviewError."""
    if review.kind != "AdmissionReview":
        raise ReviewError(f"kind is {review.kind!r}, expected 'AdmissionReview'")
    if review.apiVersion not in API_VERSIONS:
        raise ReviewError(
            f"apiVersion {review.apiVersion!r} is not one of {', '.join(API_VERSIONS)}"
        )
    request = review.request
    if request.operation not in OPERATIONS:
        raise ReviewError(f"operation {request.operation!r} is not one of {', '.join(OPERATIONS)}")
    if not request.uid:
        raise ReviewError("request.uid is empty")
    if request.old_json is not _NO_JSON:  # the default: no oldObject in the body
        _check_old_json(request.old_json, ascii_body=ascii_body)
    new = request.new_object
    if request.operation == "DELETE":
        if request.old_json == _NO_JSON and new is None:
            raise ReviewError("a DELETE request carries neither object nor oldObject")
    elif new is None and request.operation != "CONNECT":
        raise ReviewError(f"a {request.operation} request has no object")
    if type(new) is not ObjectHead:
        # Decoded whole or projected: the object as it is, without a first read to build it.
        request.__dict__["object"] = new
    return review


def _skimmed(body: bytes) -> AdmissionReview | None:
    """The review with its object's head (managedFields raw); None when the body is to be
    decoded in full (an object with other keys, a managedFields value that is not ASCII, or
    any error: the full decode tells which)."""
    try:
        review = _skimmed_decoder.decode(body)
    except Exception:  # the full decode raises (or not) as it always does
        return None
    head = review.request.new_object
    if head is not None and not skippable(head):
        return None
    return review


def _decoded(body: bytes) -> AdmissionReview:
    """The review decoded in full; raises ReviewError."""
    try:
        return _review_decoder.decode(body)
    except msgspec.ValidationError as error:
        raise ReviewError(f"invalid AdmissionReview: {error}") from None
    except msgspec.DecodeError as error:
        raise ReviewError(f"body is not valid JSON: {error}") from None
    except UnicodeDecodeError as error:  # msgspec lets invalid UTF-8 in a string through
        raise ReviewError(
            f"body is not valid JSON: a string is not UTF-8 ({error.reason})"
        ) from None
    except RecursionError:
        raise ReviewError("body nests too deeply") from None


def _check_old_json(raw: msgspec.Raw, *, ascii_body: bool) -> None:
    """What decoding `oldObject` eagerly would have refused: not an object, not UTF-8 (which
    a body known to be ASCII cannot hold)."""
    if raw == _NO_JSON or not raw:
        return
    view = memoryview(raw)
    if view[0] != _OPEN:
        raise ReviewError(
            "invalid AdmissionReview: Expected `object | null`, got another JSON value"
            " - at `$.request.oldObject`"
        )
    if ascii_body:
        return
    data = bytes(view)
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ReviewError(
                f"body is not valid JSON: a string is not UTF-8 ({error.reason})"
            ) from None


def with_old_object(request: AdmissionRequest, old: JSONObject | None) -> AdmissionRequest:
    """`request` with `old` as its oldObject (for requests built in code, not decoded)."""
    request = msgspec.structs.replace(request, old_json=_NO_JSON if old is None else _OLD_SET)
    request.__dict__["oldObject"] = old
    return request


# An answer that only admits: the bytes of its document encoded, from its uid on.
_ADMITTED_HEAD = b'{"apiVersion":%s,"kind":"AdmissionReview","response":{"uid":'
_ADMITTED_TAIL = b',"allowed":true}}'
_ADMITTED_HEADS = {
    version: _ADMITTED_HEAD % _json_encoder.encode(version) for version in API_VERSIONS
}


def encode_admitted(api_version: str, uid: str) -> bytes:
    """The answer that admits and says nothing else (most answers): the bytes encode_response
    gives for it, without its dicts."""
    head = _ADMITTED_HEADS.get(api_version)
    if head is None:
        head = _ADMITTED_HEAD % _json_encoder.encode(api_version)
    return head + _json_encoder.encode(uid) + _ADMITTED_TAIL


def encode_response(
    *,
    api_version: str,
    uid: str,
    allowed: bool,
    message: str | None = None,
    code: int | None = None,
    warnings: list[str] | None = None,
    audit_annotations: Mapping[str, str] | None = None,
    patch: bytes | None = None,
) -> bytes:
    """Encode the AdmissionReview response; `patch` is a JSON Patch document (JSON bytes)."""
    plain = message is None and code is None and patch is None
    if allowed and plain and not warnings and not audit_annotations:
        return encode_admitted(api_version, uid)
    response: JSONObject = {"uid": uid, "allowed": allowed}
    if message is not None or code is not None:
        status: JSONObject = {}
        if code is not None:
            status["code"] = code
        if message is not None:
            status["message"] = message
        if not allowed:
            status["reason"] = REASONS.get(code or 0, "BadRequest")
        response["status"] = status
    if warnings:
        response["warnings"] = warnings
    if audit_annotations:
        response["auditAnnotations"] = dict(audit_annotations)
    if patch is not None:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(patch).decode("ascii")
    return _json_encoder.encode(
        {"apiVersion": api_version, "kind": "AdmissionReview", "response": response}
    )


def request_for_manifest(manifest: JSONObject, *, operation: str = "CREATE") -> AdmissionRequest:
    """The request the API server would send for creating `manifest` (used by `check`)."""
    api_version = str(manifest.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    metadata = manifest.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    kind = str(manifest.get("kind", ""))
    return AdmissionRequest(
        uid="",
        kind=GroupVersionKind(group=group, version=version, kind=kind),
        operation=operation,
        resource=GroupVersionResource(group=group, version=version, resource=kind.lower() + "s"),
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        userInfo=UserInfo(username="policy-webhook:check"),
        new_object=manifest,
    )


class _Identity(msgspec.Struct):
    uid: str


class _IdentifiedReview(msgspec.Struct):
    apiVersion: str
    request: _Identity


_identity_decoder = msgspec.json.Decoder(_IdentifiedReview)


def decode_identity(body: bytes) -> tuple[str, str]:
    """Only (apiVersion, request.uid) of a review, skipping the objects; raises ReviewError."""
    try:
        review = _identity_decoder.decode(body)
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError) as error:
        raise ReviewError(f"invalid AdmissionReview: {error}") from None
    if review.apiVersion not in API_VERSIONS or not review.request.uid:
        raise ReviewError("invalid AdmissionReview: no known apiVersion or no request.uid")
    return review.apiVersion, review.request.uid
