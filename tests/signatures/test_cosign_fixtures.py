"""Signatures made by cosign itself, served by a real registry: keys, k of n, keyless."""

from __future__ import annotations

import pytest

from tests.signatures.conftest import (
    KEYLESS,
    REKOR_TEST,
    SINGLE,
    TESTIMAGE,
    TRIPLE,
    keys,
    requirement,
    verify_one,
)
from tests.signatures.oci import RegistryServer
from webhook.signatures.api import KeylessSigner, Outcome, RekorPolicy

GITHUB = "https://github.com/login/oauth"


@pytest.mark.parametrize(
    ("digest", "signers", "required", "outcome", "matched"),
    [
        (SINGLE, ("alice",), 1, Outcome.VERIFIED, ("alice",)),
        (TRIPLE, ("alice",), 1, Outcome.VERIFIED, ("alice",)),
        (TRIPLE, ("bob",), 1, Outcome.VERIFIED, ("bob",)),
        (TRIPLE, ("charlie",), 1, Outcome.VERIFIED, ("charlie",)),
        (TRIPLE, ("alice", "bob", "charlie"), 3, Outcome.VERIFIED, ("alice", "bob", "charlie")),
        (TRIPLE, ("alice", "default", "charlie"), 2, Outcome.VERIFIED, ("alice", "charlie")),
        (SINGLE, ("alice", "bob", "charlie"), 2, Outcome.INSUFFICIENT, ("alice",)),
        (SINGLE, ("default",), 1, Outcome.UNTRUSTED, ()),
        (TRIPLE, ("default",), 1, Outcome.UNTRUSTED, ()),
    ],
)
def test_key_signatures(
    registry: RegistryServer,
    digest: str,
    signers: tuple[str, ...],
    required: int,
    outcome: Outcome,
    matched: tuple[str, ...],
) -> None:
    result = verify_one(
        f"{registry.host}/{TESTIMAGE}@{digest}", requirement(*keys(*signers), required=required)
    )
    assert result.outcome is outcome
    assert result.signers == matched
    assert result.digest == digest


def test_unknown_key_is_described(registry: RegistryServer) -> None:
    result = verify_one(f"{registry.host}/{TESTIMAGE}@{SINGLE}", requirement(*keys("default")))
    assert result.detail == "found 1 signature, by an unknown key"


def test_two_of_three_names_what_is_missing(registry: RegistryServer) -> None:
    result = verify_one(
        f"{registry.host}/{TESTIMAGE}@{SINGLE}",
        requirement(*keys("alice", "bob", "charlie"), required=2),
    )
    assert result.detail == "found 1 signature, by alice"


@pytest.mark.parametrize(
    "signer",
    [
        KeylessSigner("philipp", issuer=GITHUB, subject="philipp.belitz@securesystems.de"),
        KeylessSigner("regexp", issuer_regexp="github", subject_regexp="^philipp\\."),
    ],
)
def test_keyless_signature_with_rekor_bundle(
    registry: RegistryServer, signer: KeylessSigner
) -> None:
    result = verify_one(
        f"{registry.host}/{REKOR_TEST}@{KEYLESS}", requirement(signer, rekor=RekorPolicy.REQUIRED)
    )
    assert result.outcome is Outcome.VERIFIED
    assert result.signers == (signer.name,)


@pytest.mark.parametrize(
    "signer",
    [
        KeylessSigner("bob", issuer=GITHUB, subject="bob@gmail.com"),
        KeylessSigner("google", issuer="https://accounts.google.com", subject_regexp="philipp"),
    ],
)
def test_keyless_signature_by_another_identity(
    registry: RegistryServer, signer: KeylessSigner
) -> None:
    result = verify_one(f"{registry.host}/{REKOR_TEST}@{KEYLESS}", requirement(signer))
    assert result.outcome is Outcome.UNTRUSTED
    assert "philipp.belitz@securesystems.de" in result.detail
    assert "not a required identity" in result.detail


def test_keyless_signature_fails_against_another_trusted_root(registry: RegistryServer) -> None:
    from tests.signatures.signing import PrivateSigstore

    signer = KeylessSigner("philipp", issuer=GITHUB, subject_regexp="philipp")
    result = verify_one(
        f"{registry.host}/{REKOR_TEST}@{KEYLESS}",
        requirement(signer, trusted_root=PrivateSigstore().trusted_root()),
    )
    assert result.outcome is Outcome.UNTRUSTED
    assert "Rekor" in result.detail
