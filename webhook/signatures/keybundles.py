"""Sigstore bundles signed with a key (cosign v3 `sign --key` writes these): a DSSE envelope
whose in-toto statement names the image digest, with a public-key hint instead of a
certificate. The envelope's signature over the DSSE pre-authentication encoding must verify
with a listed key.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

import msgspec

from webhook.signatures.api import KeySigner
from webhook.signatures.keyless import EvidenceError
from webhook.signatures.keys import PublicKey, load_public_key, verify_signature

IN_TOTO = "application/vnd.in-toto+json"


class _Signature(msgspec.Struct):
    sig: str
    keyid: str = ""


class _Envelope(msgspec.Struct, rename="camel"):
    payload: str
    payload_type: str
    signatures: list[_Signature]


class _Bundle(msgspec.Struct, rename="camel"):
    verification_material: dict[str, Any] = {}
    dsse_envelope: _Envelope | None = None


def signed_with_key(content: bytes) -> bool:
    """Whether the bundle names a public key (a hint) rather than a certificate."""
    try:
        bundle = msgspec.json.decode(content, type=_Bundle)
    except msgspec.DecodeError:
        return False
    return "publicKey" in bundle.verification_material


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the envelope's signatures sign."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@lru_cache(maxsize=256)
def _key(pem: str) -> PublicKey:
    return load_public_key(pem)


def verify_key_bundle(content: bytes, digest: str, signers: tuple[KeySigner, ...]) -> list[str]:
    """The `signers` whose key signed the statement about `digest`; raises EvidenceError."""
    try:
        bundle = msgspec.json.decode(content, type=_Bundle)
        envelope = bundle.dsse_envelope
        if envelope is None:
            raise EvidenceError("key-signed bundle without a DSSE envelope")
        payload = base64.b64decode(envelope.payload, validate=True)
        signatures = [base64.b64decode(item.sig, validate=True) for item in envelope.signatures]
    except (msgspec.DecodeError, ValueError) as error:
        raise EvidenceError(f"malformed Sigstore bundle: {error}") from None
    encoded = pae(envelope.payload_type, payload)
    names = [
        signer.name
        for signer in signers
        if any(verify_signature(_key(signer.pem), signature, encoded) for signature in signatures)
    ]
    if not names:
        return []
    if envelope.payload_type != IN_TOTO:
        raise EvidenceError(f"bundle payload type {envelope.payload_type!r} is not in-toto")
    if digest not in statement_digests(payload):
        raise EvidenceError(f"bundle by {', '.join(names)} is about another digest")
    return names


def statement_digests(payload: bytes) -> set[str]:
    """The `algorithm:hex` digests of an in-toto statement's subjects."""
    try:
        statement: Any = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return set()
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    found: set[str] = set()
    for subject in subjects if isinstance(subjects, list) else []:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digests, dict):
            found.update(f"{alg}:{value}" for alg, value in digests.items())
    return found
