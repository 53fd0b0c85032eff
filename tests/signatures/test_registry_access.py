"""Reaching registries: TLS with a custom CA, token auth with dockerconfigjson credentials,
and every way of failing (unreachable, denied, rate limited, stalled) with its own reason."""

from __future__ import annotations

import base64
import gc
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.signatures.certificates import write_tls
from tests.signatures.conftest import (
    REKOR_TEST,
    TESTIMAGE,
    requirement,
    upload_cosign_fixtures,
    verify_one,
)
from tests.signatures.conftest import SINGLE as DIGEST
from tests.signatures.conftest import keys as key_signers
from tests.signatures.oci import Pusher, RegistryServer, TokenAuth, free_port, start_registry
from tests.signatures.signing import public_pem
from tests.signatures.token_server import ISSUER, SERVICE, TokenService
from webhook.signatures.api import KeySigner, Outcome, RegistryOptions
from webhook.signatures.verifier import RegistryVerifier, VerifierSettings

ALICE = requirement(*key_signers("alice"))


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    service = TokenService(tmp_path_factory.mktemp("tokens"), username="ci", password="s3cret")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, tokens: TokenService
) -> Iterator[RegistryServer]:
    """A registry behind TLS (a CA of its own) and token auth."""
    workdir = Path(tmp_path_factory.mktemp("secured"))
    server = start_registry(
        workdir,
        tls=write_tls(workdir),
        token=TokenAuth(
            realm=tokens.realm, service=SERVICE, issuer=ISSUER, root_bundle=tokens.bundle
        ),
    )
    try:
        scopes = [f"repository:{name}:pull,push" for name in (TESTIMAGE, REKOR_TEST)]
        uploader = Pusher(server, token=tokens.token(*scopes))
        upload_cosign_fixtures(uploader)
        uploader.close()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry behind TLS and HTTP Basic auth (an htpasswd file with a bcrypt hash)."""
    workdir = Path(tmp_path_factory.mktemp("basic"))
    htpasswd = workdir / "htpasswd"
    hashed = bcrypt.hashpw(b"pull-only", bcrypt.gensalt(rounds=5)).decode()
    htpasswd.write_text(f"robot:{hashed}\n")
    server = start_registry(workdir, tls=write_tls(workdir), htpasswd=htpasswd)
    try:
        uploader = Pusher(server, basic=base64.b64encode(b"robot:pull-only").decode())
        upload_cosign_fixtures(uploader)
        uploader.close()
        yield server
    finally:
        server.stop()


def _docker_config(path: Path, host: str, username: str, password: str) -> str:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return str(path)


def test_token_auth_over_tls_with_credentials(secured: RegistryServer, tmp_path: Path) -> None:
    assert secured.ca_file is not None
    options = RegistryOptions(
        credentials=_docker_config(tmp_path / "config.json", secured.host, "ci", "s3cret"),
        ca_file=str(secured.ca_file),
    )
    secured.mark()
    result = verify_one(f"{secured.host}/{TESTIMAGE}@{DIGEST}", ALICE, options=options)
    assert result.outcome is Outcome.VERIFIED
    statuses = [status for _, _, status in secured.requests()]
    assert 401 in statuses  # the challenge came, and the token answered it
    assert statuses.count(200) >= 2  # the signature manifest and its payload blob


def test_basic_auth_with_pull_secret_credentials(basic: RegistryServer, tmp_path: Path) -> None:
    options = RegistryOptions(
        credentials=_docker_config(tmp_path / "config.json", basic.host, "robot", "pull-only"),
        ca_file=str(basic.ca_file),
    )
    basic.mark()
    result = verify_one(f"{basic.host}/{TESTIMAGE}@{DIGEST}", ALICE, options=options)
    assert result.outcome is Outcome.VERIFIED
    assert 401 in [status for _, _, status in basic.requests()]  # the Basic challenge came


def test_basic_auth_without_credentials_is_denied(basic: RegistryServer) -> None:
    options = RegistryOptions(ca_file=str(basic.ca_file))
    result = verify_one(f"{basic.host}/{TESTIMAGE}@{DIGEST}", ALICE, options=options)
    assert result.outcome is Outcome.DENIED
    assert "credentials required" in result.detail


def test_wrong_credentials_are_denied(secured: RegistryServer, tmp_path: Path) -> None:
    options = RegistryOptions(
        credentials=_docker_config(tmp_path / "config.json", secured.host, "ci", "wrong"),
        ca_file=str(secured.ca_file),
    )
    result = verify_one(f"{secured.host}/{TESTIMAGE}@{DIGEST}", ALICE, options=options)
    assert result.outcome is Outcome.DENIED


def test_anonymous_access_is_denied(secured: RegistryServer) -> None:
    options = RegistryOptions(ca_file=str(secured.ca_file))
    result = verify_one(f"{secured.host}/{TESTIMAGE}@{DIGEST}", ALICE, options=options)
    assert result.outcome is Outcome.DENIED


# Python 3.11's asyncio leaves the socket of a failed TLS handshake to the garbage collector;
# collect it here, where its ResourceWarning is expected, not in whichever test runs next.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_unknown_ca_is_unreachable(secured: RegistryServer) -> None:
    result = verify_one(f"{secured.host}/{TESTIMAGE}@{DIGEST}", ALICE, options=RegistryOptions())
    gc.collect()
    assert result.outcome is Outcome.UNREACHABLE
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail


def test_rate_limited_token_service(
    secured: RegistryServer, tokens: TokenService, tmp_path: Path
) -> None:
    options = RegistryOptions(
        credentials=_docker_config(tmp_path / "config.json", secured.host, "ci", "s3cret"),
        ca_file=str(secured.ca_file),
    )
    tokens.rate_limited = True
    try:
        result = verify_one(f"{secured.host}/{TESTIMAGE}@{DIGEST}", ALICE, options=options)
    finally:
        tokens.rate_limited = False
    assert result.outcome is Outcome.RATE_LIMITED


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_plain_http_only_for_insecure_registries(registry: RegistryServer) -> None:
    result = verify_one(f"{registry.host}/{TESTIMAGE}@{DIGEST}", ALICE, options=RegistryOptions())
    gc.collect()  # the failed TLS handshake's socket, as in test_unknown_ca_is_unreachable
    assert result.outcome is Outcome.UNREACHABLE


def test_nothing_listening_is_unreachable() -> None:
    signer = KeySigner("k", public_pem(ec.generate_private_key(ec.SECP256R1())))
    result = verify_one(f"127.0.0.1:{free_port()}/app:1.0", requirement(signer))
    assert result.outcome is Outcome.UNREACHABLE


@pytest.fixture
def stalled() -> Iterator[str]:
    """A loopback server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_stalled_registry_times_out_by_the_deadline(stalled: str) -> None:
    signer = KeySigner("k", public_pem(ec.generate_private_key(ec.SECP256R1())))
    result = verify_one(f"{stalled}/app:1.0", requirement(signer), timeout=0.5)
    gc.collect()  # a connection left open by the abandoned lookup would warn (an error) here
    assert result.outcome is Outcome.TIMED_OUT
    assert f"registry {stalled} did not answer within 0.5s" == result.detail


def test_stalled_registry_times_out_per_request(stalled: str) -> None:
    signer = KeySigner("k", public_pem(ec.generate_private_key(ec.SECP256R1())))
    verifier = RegistryVerifier(settings=VerifierSettings(request_timeout=0.3))
    result = verify_one(f"{stalled}/app:1.0", requirement(signer), verifier=verifier, timeout=30)
    gc.collect()
    assert result.outcome is Outcome.TIMED_OUT
    assert "no answer in time" in result.detail
