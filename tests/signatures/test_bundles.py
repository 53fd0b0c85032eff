"""Sigstore bundles attached as OCI referrers (cosign's newer format), found by the tag fallback."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.signatures.conftest import COSIGN, requirement, verify_one
from tests.signatures.oci import Pusher, RegistryServer
from tests.signatures.signing import (
    key_signed_bundle,
    public_pem,
    push_bundle_referrer,
    push_image,
)
from webhook.signatures.api import KeylessSigner, KeySigner, Outcome, RekorPolicy

SUBJECT = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
BUNDLE = COSIGN / "keyless-bundle" / "oci-attestation.sigstore.json"
ROOT = (COSIGN / "keyless-bundle" / "trusted_root_pgi.json").read_text()
CODY = KeylessSigner("cody", issuer="https://github.com/login/oauth", subject="cody@soyland.com")


@pytest.fixture(scope="module")
def attested(registry: RegistryServer, pusher: Pusher) -> str:
    push_bundle_referrer(pusher, "bundles/repo", SUBJECT, BUNDLE.read_bytes())
    return f"{registry.host}/bundles/repo@{SUBJECT}"


def test_bundle_referrer_verifies(attested: str) -> None:
    result = verify_one(attested, requirement(CODY, rekor=RekorPolicy.REQUIRED, trusted_root=ROOT))
    assert result.outcome is Outcome.VERIFIED
    assert result.signers == ("cody",)


def test_bundle_by_another_identity(attested: str) -> None:
    other = KeylessSigner("ci", issuer="https://github.com/login/oauth", subject="ci@example.com")
    result = verify_one(attested, requirement(other, trusted_root=ROOT))
    assert result.outcome is Outcome.UNTRUSTED
    assert "by cody@soyland.com (issuer https://github.com/login/oauth)" in result.detail


def test_bundle_does_not_count_for_a_key(attested: str) -> None:
    key = (COSIGN / "keys" / "alice.pub").read_text()
    result = verify_one(attested, requirement(KeySigner("alice", key)))
    assert result.outcome is Outcome.UNTRUSTED
    assert "cody@soyland.com" in result.detail


def test_bundle_about_another_digest(registry: RegistryServer, pusher: Pusher) -> None:
    other = "sha256:" + "ab" * 32
    push_bundle_referrer(pusher, "bundles/other", other, BUNDLE.read_bytes())
    result = verify_one(
        f"{registry.host}/bundles/other@{other}", requirement(CODY, trusted_root=ROOT)
    )
    assert result.outcome is Outcome.UNTRUSTED
    assert "another digest" in result.detail


def test_key_signed_bundle_referrer(registry: RegistryServer, pusher: Pusher) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = push_image(pusher, "bundles/keyed", "1.0")
    bundle = key_signed_bundle(key, f"{registry.host}/bundles/keyed", digest)
    push_bundle_referrer(pusher, "bundles/keyed", digest, bundle)
    image = f"{registry.host}/bundles/keyed:1.0"
    signer = KeySigner("release", public_pem(key))
    verified = verify_one(image, requirement(signer))
    assert verified.outcome is Outcome.VERIFIED
    assert verified.signers == ("release",)
    stranger = KeySigner("other", public_pem(ec.generate_private_key(ec.SECP256R1())))
    untrusted = verify_one(image, requirement(stranger))
    assert untrusted.outcome is Outcome.UNTRUSTED
    assert untrusted.detail == "found 1 signature, in a Sigstore bundle by an unknown key"
    logged = verify_one(image, requirement(signer, rekor=RekorPolicy.REQUIRED))
    assert logged.outcome is Outcome.UNTRUSTED


def test_key_signed_bundle_about_another_image(registry: RegistryServer, pusher: Pusher) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = push_image(pusher, "bundles/moved", "1.0")
    other = push_image(pusher, "bundles/moved", "2.0")
    bundle = key_signed_bundle(key, f"{registry.host}/bundles/moved", other)
    push_bundle_referrer(pusher, "bundles/moved", digest, bundle)
    result = verify_one(
        f"{registry.host}/bundles/moved@{digest}",
        requirement(KeySigner("release", public_pem(key))),
    )
    assert result.outcome is Outcome.UNTRUSTED
    assert "about another digest" in result.detail
