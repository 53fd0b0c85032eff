"""Parsers of registry content and credentials: any input parses or fails with one typed error."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.signatures.conftest import COSIGN, SINGLE, TRIPLE, key_pem
from webhook.signatures.auth import load_docker_config, parse_challenge
from webhook.signatures.cosign import (
    FormatError,
    parse_manifest,
    referrers_tag,
    signature_layers,
    signature_tag,
    signed_digest,
)
from webhook.signatures.keys import load_public_key, read_public_key_file

MANIFESTS = COSIGN / "testimage" / "manifests"


def test_signature_tags() -> None:
    assert signature_tag(SINGLE) == f"sha256-{SINGLE[7:]}.sig"
    assert referrers_tag(SINGLE) == f"sha256-{SINGLE[7:]}"


def test_cosign_signature_manifest_layers() -> None:
    content = (MANIFESTS / f"{signature_tag(TRIPLE)}.json").read_bytes()
    layers = signature_layers(parse_manifest(content))
    assert len(layers) == 3
    assert {layer.payload_digest for layer in layers} == {
        "sha256:7248e52a7da336ff63192f2c0a8f12562b0d5368e9cde6ab292cbb4604074f28"
    }
    assert all(layer.certificate is None and layer.bundle is None for layer in layers)


def test_simple_signing_payload_names_the_digest() -> None:
    blob = COSIGN / "testimage" / "blobs"
    name = "sha256:7248e52a7da336ff63192f2c0a8f12562b0d5368e9cde6ab292cbb4604074f28.json"
    assert signed_digest((blob / name).read_bytes()) == TRIPLE


@given(st.binary(max_size=300))
def test_any_manifest_bytes_parse_or_fail_typed(content: bytes) -> None:
    with contextlib.suppress(FormatError):
        parse_manifest(content)


@given(st.binary(max_size=300))
def test_any_payload_bytes_parse_or_fail_typed(content: bytes) -> None:
    with contextlib.suppress(FormatError):
        signed_digest(content)


@given(st.text(max_size=200))
def test_any_challenge_parses(header: str) -> None:
    challenge = parse_challenge(header)
    assert challenge is None or challenge.scheme == challenge.scheme.lower()


def test_bearer_challenge() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:team/api:pull"'
    )
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:team/api:pull",
    }


def test_docker_config_auth_forms(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    encoded = base64.b64encode(b"robot:pa:ss").decode()
    path.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": encoded},
                    "reg.example.com:5000": {"username": "ci", "password": "token"},
                }
            }
        )
    )
    found = load_docker_config(str(path))
    assert found["docker.io"].username == "robot"
    assert found["docker.io"].password == "pa:ss"
    assert found["reg.example.com:5000"].password == "token"


@pytest.mark.parametrize("text", ["{", '{"auths": {"x": {"auth": "%%%"}}}', "[]"])
def test_bad_docker_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ValueError):
        load_docker_config(str(path))


def test_public_keys() -> None:
    assert load_public_key(key_pem("alice")).key_size == 256  # type: ignore[union-attr]
    assert read_public_key_file(COSIGN / "keys" / "bob.pub").startswith("-----BEGIN PUBLIC KEY")


@pytest.mark.parametrize(
    "text", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]
)
def test_bad_public_keys(text: str) -> None:
    with pytest.raises(ValueError):
        load_public_key(text)
