"""Keyless evidence: Fulcio certificates (chain, identity) and Rekor signed entry timestamps.

cosign's older keyless signatures carry a signed entry timestamp (SET) instead of an inclusion
proof. The SET is Rekor's signature over the canonical JSON of body, integratedTime, logID and
logIndex; it verifies with the Rekor key of the trusted root and dates the signature, and the
certificate must chain to a Fulcio CA of that root at that time.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from webhook.cel import regex_search
from webhook.signatures.api import KeylessSigner
from webhook.signatures.keys import PublicKey
from webhook.signatures.trust import TrustMaterial

OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
MAX_CHAIN = 8


class EvidenceError(ValueError):
    """Transparency-log or certificate evidence does not hold; the message says which part."""


class _Payload(msgspec.Struct):
    body: str
    integratedTime: int
    logIndex: int
    logID: str


class _RekorBundle(msgspec.Struct):
    SignedEntryTimestamp: str
    Payload: _Payload


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A Rekor entry whose SET verified: when it was logged and what it recorded."""

    integrated_time: datetime
    body: dict[str, Any]


def verify_rekor_bundle(bundle: str, trust: TrustMaterial) -> LogEntry:
    """Check the SET of a cosign `dev.sigstore.cosign/bundle`; raises EvidenceError."""
    try:
        parsed = msgspec.json.decode(bundle, type=_RekorBundle)
        payload = parsed.Payload
        canonical = rfc8785.dumps(
            {
                "body": payload.body,
                "integratedTime": payload.integratedTime,
                "logID": payload.logID,
                "logIndex": payload.logIndex,
            }
        )
        signature = base64.b64decode(parsed.SignedEntryTimestamp, validate=True)
        log_id = bytes.fromhex(payload.logID)
        body = msgspec.json.decode(base64.b64decode(payload.body, validate=True))
    except (msgspec.DecodeError, ValueError) as error:
        raise EvidenceError(f"malformed Rekor bundle: {error}") from None
    if not trust.rekor_signed(log_id=log_id, signature=signature, data=canonical):
        raise EvidenceError("Rekor entry timestamp does not verify with the trusted Rekor keys")
    if not isinstance(body, dict):
        raise EvidenceError("Rekor entry body is not an object")
    return LogEntry(integrated_time=datetime.fromtimestamp(payload.integratedTime, UTC), body=body)


def check_entry_matches(
    entry: LogEntry, *, payload_sha256: str, signature: bytes, public_key: PublicKey
) -> None:
    """The logged hashedrekord is this signature by this key; raises EvidenceError."""
    body = entry.body
    spec = body.get("spec")
    if body.get("kind") != "hashedrekord" or not isinstance(spec, dict):
        raise EvidenceError(f"Rekor entry kind {body.get('kind')!r} is not hashedrekord")
    try:
        logged_hash = spec["data"]["hash"]["value"]
        logged_signature = base64.b64decode(spec["signature"]["content"])
        logged_key = base64.b64decode(spec["signature"]["publicKey"]["content"])
    except (KeyError, TypeError, ValueError):
        raise EvidenceError("Rekor entry lacks hash, signature or public key") from None
    if logged_hash != payload_sha256:
        raise EvidenceError("Rekor entry records another payload")
    if logged_signature != signature:
        raise EvidenceError("Rekor entry records another signature")
    if _key_bytes(logged_key) != _spki(public_key):
        raise EvidenceError("Rekor entry records another key or certificate")


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _key_bytes(pem: bytes) -> bytes:
    try:
        if b"CERTIFICATE" in pem:
            return (
                x509.load_pem_x509_certificate(pem)
                .public_key()
                .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            )
        return load_pem_public_key(pem).public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
    except ValueError:
        return b""


def load_certificate(pem: str) -> x509.Certificate:
    """Parse the signing certificate; raises EvidenceError."""
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as error:
        raise EvidenceError(f"malformed certificate: {error}") from None


def verify_chain(certificate: x509.Certificate, at: datetime, trust: TrustMaterial) -> None:
    """The certificate chains to a trusted Fulcio CA at time `at`; raises EvidenceError."""
    if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
        raise EvidenceError(
            f"certificate was not valid at {at.isoformat()} (valid "
            f"{certificate.not_valid_before_utc.isoformat()} to "
            f"{certificate.not_valid_after_utc.isoformat()})"
        )
    # Fulcio leaves carry the code-signing EKU, not client-auth; allow it as sigstore does.
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(list(trust.fulcio)))
        .time(at)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(certificate, [])
    except (VerificationError, ValueError) as error:
        raise EvidenceError(
            f"certificate does not chain to the trusted Fulcio roots: {error}"
        ) from None
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise EvidenceError("certificate is not for code signing") from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in usage:
        raise EvidenceError("certificate is not for code signing")


def certificate_identity(certificate: x509.Certificate) -> tuple[str, str]:
    """The (issuer, subject) identity Fulcio wrote into the certificate; '' where absent."""
    issuer = ""
    for extension in certificate.extensions:
        if extension.oid == OIDC_ISSUER_V2 and isinstance(
            extension.value, x509.UnrecognizedExtension
        ):
            issuer = _der_utf8(extension.value.value)
            break
        if extension.oid == OIDC_ISSUER_V1 and isinstance(
            extension.value, x509.UnrecognizedExtension
        ):
            issuer = extension.value.value.decode("utf-8", "replace")
    subject = ""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return issuer, subject
    for general in names:
        if isinstance(general, x509.RFC822Name | x509.UniformResourceIdentifier | x509.DNSName):
            subject = general.value
            break
        if isinstance(general, x509.OtherName):
            subject = _der_utf8(general.value)
            break
    return issuer, subject


def _der_utf8(value: bytes) -> str:
    # A DER UTF8String: tag 0x0c, a length (short or long form), the text.
    if len(value) < 2 or value[0] != 0x0C:
        return value.decode("utf-8", "replace")
    length, start = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    return value[start : start + length].decode("utf-8", "replace")


def identity_matches(signer: KeylessSigner, issuer: str, subject: str) -> bool:
    """Exact values must be equal; regular expressions are searched, as cosign does."""
    checks = (
        (signer.issuer, signer.issuer_regexp, issuer),
        (signer.subject, signer.subject_regexp, subject),
    )
    for exact, pattern, actual in checks:
        if exact is not None and actual != exact:
            return False
        if pattern is not None and not regex_search(pattern, actual):
            return False
    return True
