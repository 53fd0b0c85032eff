"""Sigstore bundles (v0.2/v0.3) stored as OCI referrers: DSSE in-toto statements about the image.

sigstore's Verifier checks the bundle itself (certificate chain, transparency log, DSSE
signature); here we add which signer it names and that the statement is about this digest.
"""

from __future__ import annotations

from cryptography import x509
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle
from sigstore.verify import Verifier

from webhook.signatures.api import KeylessSigner
from webhook.signatures.keybundles import statement_digests
from webhook.signatures.keyless import EvidenceError, certificate_identity, identity_matches
from webhook.signatures.trust import TrustMaterial

IN_TOTO = "application/vnd.in-toto+json"


class _IdentityPolicy:
    """A sigstore VerificationPolicy that accepts any of the listed keyless signers."""

    def __init__(self, signers: tuple[KeylessSigner, ...]) -> None:
        self.signers = signers
        self.matched: list[str] = []

    def verify(self, cert: x509.Certificate) -> None:
        issuer, subject = certificate_identity(cert)
        self.matched = [s.name for s in self.signers if identity_matches(s, issuer, subject)]
        if not self.matched:
            raise SigstoreVerificationError(
                f"by {subject} (issuer {issuer}), not a required identity"
            )


class SigstoreVerificationError(SigstoreError):
    pass


class IdentityMismatch(EvidenceError):
    """The bundle verifies, but its signer is none of the listed identities."""


def bundle_identity(content: bytes) -> tuple[str, str]:
    """(issuer, subject) of a bundle's signing certificate, for messages; raises EvidenceError."""
    try:
        return certificate_identity(Bundle.from_json(content).signing_certificate)
    except (SigstoreError, ValueError) as error:
        raise EvidenceError(f"malformed Sigstore bundle: {error}") from None


def verify_bundle(
    content: bytes, digest: str, signers: tuple[KeylessSigner, ...], trust: TrustMaterial
) -> list[str]:
    """The `signers` whose signature the bundle carries for `digest`; raises EvidenceError."""
    try:
        bundle = Bundle.from_json(content)
    except (SigstoreError, ValueError) as error:
        raise EvidenceError(f"malformed Sigstore bundle: {error}") from None
    policy = _IdentityPolicy(signers)
    try:
        payload_type, payload = Verifier(trusted_root=trust.root).verify_dsse(bundle, policy)
    except SigstoreVerificationError as error:
        raise IdentityMismatch(str(error)) from None
    except (SigstoreError, ValueError) as error:
        raise EvidenceError(f"Sigstore bundle does not verify: {error}") from None
    if payload_type != IN_TOTO:
        raise EvidenceError(f"bundle payload type {payload_type!r} is not an in-toto statement")
    if digest not in statement_digests(payload):
        raise EvidenceError("bundle statement is about another digest")
    return policy.matched
