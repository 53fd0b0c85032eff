"""Images signed here in cosign's format: key types, tags, tampering, wrong digests, keyless."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.signatures.conftest import requirement, verify_one
from tests.signatures.oci import Pusher, RegistryServer
from tests.signatures.signing import (
    Layer,
    PrivateKey,
    PrivateSigstore,
    certificate_pem,
    payload,
    public_pem,
    push_image,
    push_signatures,
    sign,
)
from webhook.signatures.api import KeylessSigner, KeySigner, Outcome, RekorPolicy

ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main"


def _key(kind: str) -> PrivateKey:
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def _signed(pusher: Pusher, repository: str, tag: str, key: PrivateKey) -> str:
    digest = push_image(pusher, repository, tag)
    body = payload(f"{pusher.server.host}/{repository}", digest)
    push_signatures(pusher, repository, digest, [Layer(body, sign(key, body))])
    return digest


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa", "ed25519"])
def test_key_types_verify_by_tag(registry: RegistryServer, pusher: Pusher, kind: str) -> None:
    key = _key(kind)
    digest = _signed(pusher, f"keys/{kind}", "1.0", key)
    result = verify_one(
        f"{registry.host}/keys/{kind}:1.0", requirement(KeySigner("release", public_pem(key)))
    )
    assert result.outcome is Outcome.VERIFIED
    assert result.digest == digest


def test_tag_resolves_to_the_digest_it_points_at_now(
    registry: RegistryServer, pusher: Pusher
) -> None:
    key = _key("p256")
    _signed(pusher, "moving/app", "stable", key)
    unsigned = push_image(pusher, "moving/app", "stable", seed="next")
    result = verify_one(
        f"{registry.host}/moving/app:stable", requirement(KeySigner("release", public_pem(key)))
    )
    assert result.digest == unsigned
    assert result.outcome is Outcome.NOT_SIGNED


def test_missing_signature(registry: RegistryServer, pusher: Pusher) -> None:
    digest = push_image(pusher, "plain/app", "1.0")
    result = verify_one(
        f"{registry.host}/plain/app@{digest}",
        requirement(KeySigner("release", public_pem(_key("p256")))),
    )
    assert result.outcome is Outcome.NOT_SIGNED
    assert result.detail == "no signatures found"


def test_unknown_tag(registry: RegistryServer) -> None:
    result = verify_one(
        f"{registry.host}/plain/app:9.9",
        requirement(KeySigner("release", public_pem(_key("p256")))),
    )
    assert result.outcome is Outcome.IMAGE_NOT_FOUND


def test_tampered_payload(registry: RegistryServer, pusher: Pusher) -> None:
    key = _key("p256")
    digest = push_image(pusher, "tampered/app", "1.0")
    body = payload(f"{registry.host}/tampered/app", digest)
    altered = body.replace(b"container image signature", b"container image signaturE")
    push_signatures(pusher, "tampered/app", digest, [Layer(altered, sign(key, body))])
    result = verify_one(
        f"{registry.host}/tampered/app@{digest}", requirement(KeySigner("release", public_pem(key)))
    )
    assert result.outcome is Outcome.UNTRUSTED
    assert result.found == 1


def test_signature_over_another_digest(registry: RegistryServer, pusher: Pusher) -> None:
    key = _key("p256")
    digest = push_image(pusher, "swapped/app", "1.0")
    other = push_image(pusher, "swapped/app", "2.0")
    body = payload(f"{registry.host}/swapped/app", other)
    push_signatures(pusher, "swapped/app", digest, [Layer(body, sign(key, body))])
    result = verify_one(
        f"{registry.host}/swapped/app@{digest}", requirement(KeySigner("release", public_pem(key)))
    )
    assert result.outcome is Outcome.UNTRUSTED
    assert "by release over another image" in result.detail


def test_key_signature_with_required_rekor_evidence(
    registry: RegistryServer, pusher: Pusher
) -> None:
    sigstore = PrivateSigstore()
    key = _key("p256")
    digest = push_image(pusher, "logged/app", "1.0")
    body = payload(f"{registry.host}/logged/app", digest)
    signature = sign(key, body)
    bundle = sigstore.rekor_bundle(
        signed=body, signature=signature, public=public_pem(key), integrated=dt.datetime.now(dt.UTC)
    )
    push_signatures(
        pusher,
        "logged/app",
        digest,
        [Layer(body, signature, {"dev.sigstore.cosign/bundle": bundle})],
    )
    image = f"{registry.host}/logged/app@{digest}"
    signer = KeySigner("release", public_pem(key))
    root = sigstore.trusted_root()
    logged = verify_one(image, requirement(signer, rekor=RekorPolicy.REQUIRED, trusted_root=root))
    assert logged.outcome is Outcome.VERIFIED
    other_root = PrivateSigstore().trusted_root()
    forged = verify_one(
        image, requirement(signer, rekor=RekorPolicy.REQUIRED, trusted_root=other_root)
    )
    assert forged.outcome is Outcome.UNTRUSTED
    assert "without valid Rekor evidence" in forged.detail


def test_key_signature_without_rekor_evidence(registry: RegistryServer, pusher: Pusher) -> None:
    key = _key("p256")
    digest = _signed(pusher, "unlogged/app", "1.0", key)
    signer = KeySigner("release", public_pem(key))
    image = f"{registry.host}/unlogged/app@{digest}"
    assert verify_one(image, requirement(signer)).outcome is Outcome.VERIFIED
    demanded = verify_one(image, requirement(signer, rekor=RekorPolicy.REQUIRED))
    assert demanded.outcome is Outcome.UNTRUSTED
    assert "no Rekor bundle" in demanded.detail


def _keyless_image(
    pusher: Pusher,
    sigstore: PrivateSigstore,
    repository: str,
    *,
    issued: dt.datetime,
    logged: dt.datetime,
    subject: str = SUBJECT,
    signing_key: PrivateKey | None = None,
    with_bundle: bool = True,
) -> str:
    digest = push_image(pusher, repository, "1.0")
    key, cert = sigstore.leaf(subject=subject, issuer=ISSUER, not_before=issued)
    body = payload(f"{pusher.server.host}/{repository}", digest)
    signature = sign(signing_key or key, body)
    annotations = {"dev.sigstore.cosign/certificate": certificate_pem(cert)}
    if with_bundle:
        annotations["dev.sigstore.cosign/bundle"] = sigstore.rekor_bundle(
            signed=body, signature=signature, public=certificate_pem(cert), integrated=logged
        )
    push_signatures(pusher, repository, digest, [Layer(body, signature, annotations)])
    return digest


KEYLESS_SIGNER = KeylessSigner("ci", issuer=ISSUER, subject_regexp="^https://github.com/example/")


def test_keyless_signature_from_a_private_sigstore(
    registry: RegistryServer, pusher: Pusher
) -> None:
    sigstore = PrivateSigstore()
    now = dt.datetime.now(dt.UTC)
    digest = _keyless_image(
        pusher,
        sigstore,
        "keyless/ok",
        issued=now - dt.timedelta(days=3),
        logged=now - dt.timedelta(days=3, minutes=-1),
    )
    result = verify_one(
        f"{registry.host}/keyless/ok@{digest}",
        requirement(
            KEYLESS_SIGNER, rekor=RekorPolicy.REQUIRED, trusted_root=sigstore.trusted_root()
        ),
    )
    assert result.outcome is Outcome.VERIFIED
    assert result.signers == ("ci",)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("expired", "was not valid at"),
        ("other-key", "signature that does not verify"),
        ("other-subject", "not a required identity"),
        ("no-bundle", "no Rekor bundle"),
    ],
)
def test_keyless_signature_that_does_not_hold(
    registry: RegistryServer, pusher: Pusher, case: str, expected: str
) -> None:
    sigstore = PrivateSigstore()
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    logged = issued + (dt.timedelta(hours=1) if case == "expired" else dt.timedelta(minutes=1))
    digest = _keyless_image(
        pusher,
        sigstore,
        f"keyless/{case}",
        issued=issued,
        logged=logged,
        subject="https://github.com/intruder/app/x.yml@refs/heads/main"
        if case == "other-subject"
        else SUBJECT,
        signing_key=_key("p256") if case == "other-key" else None,
        with_bundle=case != "no-bundle",
    )
    result = verify_one(
        f"{registry.host}/keyless/{case}@{digest}",
        requirement(
            KEYLESS_SIGNER, rekor=RekorPolicy.REQUIRED, trusted_root=sigstore.trusted_root()
        ),
    )
    assert result.outcome is Outcome.UNTRUSTED
    assert expected in result.detail
