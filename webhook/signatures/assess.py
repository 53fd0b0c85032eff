"""Signatures found on an image, weighed against a requirement: who signed, and is it enough.

CPU only: the fetched material goes in, a SignatureResult comes out with a description of
every signature that did not count (an unknown key, another digest, no Rekor evidence, ...).
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from webhook.signatures.api import (
    KeylessSigner,
    KeySigner,
    Outcome,
    RekorPolicy,
    Requirement,
    SignatureResult,
)
from webhook.signatures.bundles import IdentityMismatch, bundle_identity, verify_bundle
from webhook.signatures.cosign import FormatError, SignatureLayer, signed_digest
from webhook.signatures.keybundles import signed_with_key, verify_key_bundle
from webhook.signatures.keyless import (
    EvidenceError,
    LogEntry,
    certificate_identity,
    check_entry_matches,
    identity_matches,
    load_certificate,
    verify_chain,
    verify_rekor_bundle,
)
from webhook.signatures.keys import PublicKey, load_public_key, verify_signature
from webhook.signatures.trust import TrustError, TrustMaterial, material_for


@dataclass(frozen=True, slots=True)
class SimpleSignature:
    """A cosign signature layer with its payload blob."""

    layer: SignatureLayer
    payload: bytes


@lru_cache(maxsize=256)
def _key(pem: str) -> PublicKey:
    return load_public_key(pem)


def assess(
    digest: str,
    signatures: list[SimpleSignature],
    bundles: list[bytes],
    requirement: Requirement,
    *,
    now: datetime,
) -> SignatureResult:
    """Which required signers signed `digest`; VERIFIED when at least `required` did."""
    found = len(signatures) + len(bundles)
    if not found:
        return SignatureResult(Outcome.NOT_SIGNED, digest=digest, detail="no signatures found")
    try:
        needs_trust = requirement.keyless or requirement.rekor is RekorPolicy.REQUIRED
        trust = material_for(requirement.trusted_root) if needs_trust else None
    except TrustError as error:
        return SignatureResult(Outcome.ERROR, digest=digest, found=found, detail=str(error))
    matched: set[str] = set()
    notes: list[str] = []
    for signature in signatures:
        names, note = _simple(digest, signature, requirement, trust, now)
        matched.update(names)
        if not names:
            notes.append(note)
    keyless = tuple(s for s in requirement.signers if isinstance(s, KeylessSigner))
    keyed = tuple(s for s in requirement.signers if isinstance(s, KeySigner))
    for content in bundles:
        if signed_with_key(content):
            names, note = _key_bundle(digest, content, keyed, requirement.rekor)
        else:
            names, note = _bundle(digest, content, keyless, trust)
        matched.update(names)
        if not names:
            notes.append(note)
    ordered = tuple(s.name for s in requirement.signers if s.name in matched)
    if len(ordered) >= requirement.required:
        return SignatureResult(Outcome.VERIFIED, digest=digest, signers=ordered, found=found)
    outcome = Outcome.INSUFFICIENT if ordered else Outcome.UNTRUSTED
    return SignatureResult(
        outcome, digest=digest, signers=ordered, found=found, detail=_summary(found, ordered, notes)
    )


def _summary(found: int, matched: tuple[str, ...], notes: list[str]) -> str:
    plural = "s" if found != 1 else ""
    parts = [f"by {name}" for name in matched]
    for note, count in Counter(notes).items():
        parts.append(note if count == 1 else f"{count}x {note}")
    return f"found {found} signature{plural}, " + "; ".join(parts)


def _simple(
    digest: str,
    signature: SimpleSignature,
    requirement: Requirement,
    trust: TrustMaterial | None,
    now: datetime,
) -> tuple[list[str], str]:
    layer = signature.layer
    try:
        raw = base64.b64decode(layer.signature, validate=True)
    except ValueError:
        return [], "with a malformed signature"
    keys = [s for s in requirement.signers if isinstance(s, KeySigner)]
    signers = [s.name for s in keys if verify_signature(_key(s.pem), raw, signature.payload)]
    certificate_note = ""
    if not signers and layer.certificate is not None:
        signers, certificate_note = _keyless(signature, raw, requirement, trust, now)
    if not signers:
        return [], certificate_note or "by an unknown key"
    try:
        named = signed_digest(signature.payload)
    except FormatError:
        return [], f"by {', '.join(signers)} over a payload that is not cosign's"
    if named != digest:
        return [], f"by {', '.join(signers)} over another image ({named[:19]}...)"
    if requirement.rekor is RekorPolicy.REQUIRED and not layer.certificate:
        try:
            _logged(signature, raw, _key(next(s.pem for s in keys if s.name == signers[0])), trust)
        except EvidenceError as error:
            return [], f"by {', '.join(signers)} without valid Rekor evidence ({error})"
    return signers, ""


def _logged(
    signature: SimpleSignature, raw: bytes, key: PublicKey, trust: TrustMaterial | None
) -> LogEntry:
    bundle = signature.layer.bundle
    if bundle is None:
        raise EvidenceError("no Rekor bundle")
    if trust is None:
        raise EvidenceError("no trusted root for Rekor evidence")
    entry = verify_rekor_bundle(bundle, trust)
    payload_hash = hashlib.sha256(signature.payload).hexdigest()
    check_entry_matches(entry, payload_sha256=payload_hash, signature=raw, public_key=key)
    return entry


def _keyless(
    signature: SimpleSignature,
    raw: bytes,
    requirement: Requirement,
    trust: TrustMaterial | None,
    now: datetime,
) -> tuple[list[str], str]:
    layer = signature.layer
    signers = [s for s in requirement.signers if isinstance(s, KeylessSigner)]
    assert layer.certificate is not None
    try:
        certificate = load_certificate(layer.certificate)
    except EvidenceError as error:
        return [], f"with a {error}"
    issuer, subject = certificate_identity(certificate)
    who = f"by {subject or 'an unnamed identity'} (issuer {issuer or 'unknown'})"
    if not signers or trust is None:
        return [], f"{who}, not a listed key"
    key = certificate.public_key()
    if not verify_signature(key, raw, signature.payload):  # type: ignore[arg-type]
        return [], f"{who} with a signature that does not verify"
    names = [s.name for s in signers if identity_matches(s, issuer, subject)]
    if not names:
        return [], f"{who}, not a required identity"
    try:
        if layer.bundle is not None:
            at = _logged(signature, raw, key, trust).integrated_time  # type: ignore[arg-type]
        elif requirement.rekor is RekorPolicy.REQUIRED:
            raise EvidenceError("no Rekor bundle")
        else:
            at = now
        verify_chain(certificate, at, trust)
    except EvidenceError as error:
        return [], f"{who} with evidence that does not hold ({error})"
    return names, ""


def _bundle(
    digest: str, content: bytes, signers: tuple[KeylessSigner, ...], trust: TrustMaterial | None
) -> tuple[list[str], str]:
    if not signers or trust is None:
        try:
            issuer, subject = bundle_identity(content)
        except EvidenceError as error:
            return [], f"in a {error}"
        return [], f"in a Sigstore bundle by {subject} (issuer {issuer}), not a listed key"
    try:
        return verify_bundle(content, digest, signers, trust), ""
    except IdentityMismatch as error:
        return [], f"in a Sigstore bundle {error}"
    except EvidenceError as error:
        return [], f"in a Sigstore bundle that does not count ({error})"


def _key_bundle(
    digest: str, content: bytes, signers: tuple[KeySigner, ...], rekor: RekorPolicy
) -> tuple[list[str], str]:
    try:
        names = verify_key_bundle(content, digest, signers)
    except EvidenceError as error:
        return [], f"in a Sigstore bundle that does not count ({error})"
    if not names:
        return [], "in a Sigstore bundle by an unknown key"
    if rekor is RekorPolicy.REQUIRED:
        # Transparency-log entries of key-signed bundles are not checked here: not counted.
        return [], f"in a Sigstore bundle by {', '.join(names)} without checked Rekor evidence"
    return names, ""
