"""The real server under hostile requests and callers: any body gets a 200, 400 or 413 (never a
500 or a hang), TLS 1.2+ with modern ciphers only, client certificates with --client-ca, and no
secret value in the logs or the metrics."""

from __future__ import annotations

import base64
import datetime
import json
import signal
import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings

from tests.conftest import POLICIES
from tests.helpers import pod_spec, wrap
from tests.reviews import admission_review
from tests.strategies import review_bodies
from tests.webhook_server import (
    SERVER_NAME,
    WebhookServer,
    client_context,
    running_webhook,
    write_certificates,
)
from webhook import tls

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    directory = tmp_path_factory.mktemp("security")
    write_certificates(directory / "certs")
    with running_webhook(
        policies=[POLICIES],
        certificates=directory / "certs",
        log=directory / "webhook.log",
        extra=["--max-body-bytes", str(MAX_BODY)],
    ) as server:
        yield server


@pytest.fixture(scope="module")
def http(webhook: WebhookServer) -> Iterator[httpx.Client]:
    context = client_context(webhook.certificates / tls.CA_FILE)
    with httpx.Client(base_url=webhook.base_url, verify=context, timeout=10.0) as client:
        yield client


def post(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(
        path,
        content=body,
        headers={"content-type": "application/json"},
        extensions={"sni_hostname": SERVER_NAME},
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=review_bodies())
def test_any_body_over_tls_is_answered_200_400_or_413(http: httpx.Client, body: bytes) -> None:
    for path in ("/validate", "/mutate"):
        answer = post(http, path, body)  # a hang fails on the client's 10 s timeout
        if len(body) > MAX_BODY:
            assert answer.status_code == 413
        else:
            assert answer.status_code in (200, 400), answer.text
        document = answer.json()
        if answer.status_code == 200:
            assert document["kind"] == "AdmissionReview"
            assert isinstance(document["response"]["allowed"], bool)


def test_malformed_is_400_and_too_large_is_413(http: httpx.Client) -> None:
    assert post(http, "/validate", b'{"kind": "AdmissionReview"').status_code == 400
    assert post(http, "/validate", b"x" * (MAX_BODY + 1)).status_code == 413


def handshake(port: int, context: ssl.SSLContext) -> str:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=SERVER_NAME) as wrapped,
    ):
        version = wrapped.version()
        assert version is not None
        return version


def legacy_client(
    webhook: WebhookServer, *, maximum: ssl.TLSVersion, ciphers: str
) -> ssl.SSLContext:
    """A client that would accept anything down to TLS 1.0 (security level 0)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(webhook.certificates / tls.CA_FILE))
    with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = maximum
    context.set_ciphers(ciphers)
    return context


def test_tls_1_1_client_is_refused(webhook: WebhookServer) -> None:
    old = legacy_client(webhook, maximum=ssl.TLSVersion.TLSv1_1, ciphers="ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        handshake(webhook.port, old)
    same_but_12 = legacy_client(webhook, maximum=ssl.TLSVersion.TLSv1_2, ciphers="ALL:@SECLEVEL=0")
    assert handshake(webhook.port, same_but_12) == "TLSv1.2"


@pytest.mark.parametrize(
    ("ciphers", "accepted"),
    [
        ("AES128-SHA:AES256-GCM-SHA384", False),  # RSA key exchange: no forward secrecy
        ("ECDHE-ECDSA-AES128-SHA", False),  # CBC with SHA-1
        ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", True),
    ],
)
def test_only_modern_tls_1_2_ciphers(webhook: WebhookServer, ciphers: str, accepted: bool) -> None:
    client = legacy_client(
        webhook, maximum=ssl.TLSVersion.TLSv1_2, ciphers=f"{ciphers}:@SECLEVEL=0"
    )
    if accepted:
        assert handshake(webhook.port, client) == "TLSv1.2"
    else:
        with pytest.raises(ssl.SSLError):
            handshake(webhook.port, client)


def test_secret_data_is_in_no_log_line_and_no_metric(
    webhook: WebhookServer, http: httpx.Client
) -> None:
    plain = "hunter2-do-not-log-this"
    encoded = base64.b64encode(plain.encode()).decode()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "default", "annotations": {"note": plain}},
        "data": {"password": encoded},
        "stringData": {"token": plain},
    }
    for operation, old in (("CREATE", None), ("UPDATE", secret), ("DELETE", secret)):
        obj = None if operation == "DELETE" else secret
        review = admission_review(obj, operation=operation, old=old)
        for path in ("/validate", "/mutate"):
            assert post(http, path, json.dumps(review).encode()).status_code == 200
    metrics = http.get("/metrics", extensions={"sni_hostname": SERVER_NAME}).text
    logs = webhook.log.read_text()
    assert "db" in logs  # the decisions were logged...
    for text in (plain, encoded):
        assert text not in logs  # ...without the values
        assert text not in metrics


def client_certificate(ca: tls.Issued, name: str) -> tls.Issued:
    """A client certificate (clientAuth) signed by `ca`, as the API server's would be."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return tls.Issued(certificate=certificate, key=key)


def write_client_certificate(issued: tls.Issued, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "client.crt").write_bytes(issued.certificate_pem())
    (directory / "client.key").write_bytes(issued.key_pem())
    return directory / "client.crt", directory / "client.key"


def test_client_ca_admits_only_its_clients(tmp_path: Path) -> None:
    write_certificates(tmp_path / "certs")
    api_server_ca = tls.generate_ca(common_name="front-proxy CA")
    other_ca = tls.generate_ca(common_name="someone else")
    (tmp_path / "client-ca.crt").write_bytes(api_server_ca.certificate_pem())
    api_server = write_client_certificate(
        client_certificate(api_server_ca, "kube-apiserver"), tmp_path / "good"
    )
    intruder = write_client_certificate(client_certificate(other_ca, "intruder"), tmp_path / "bad")
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    body = json.dumps(admission_review(config_map)).encode()
    with running_webhook(
        policies=[POLICIES],
        certificates=tmp_path / "certs",
        log=tmp_path / "webhook.log",
        extra=["--client-ca", str(tmp_path / "client-ca.crt")],
        client_cert=api_server,
    ) as server:
        ca_file = server.certificates / tls.CA_FILE
        with httpx.Client(
            base_url=server.base_url, verify=client_context(ca_file, api_server)
        ) as ok:
            assert post(ok, "/validate", body).status_code == 200
        for presented in (None, intruder):
            context = client_context(ca_file, presented)
            with (
                httpx.Client(base_url=server.base_url, verify=context) as client,
                pytest.raises(httpx.TransportError),
            ):
                post(client, "/validate", body)


def test_sigterm_fails_readiness_first_and_drains(tmp_path: Path) -> None:
    write_certificates(tmp_path / "certs")
    body = json.dumps(admission_review(wrap("Pod", pod_spec(), name="late"))).encode()
    with (
        running_webhook(
            policies=[POLICIES],
            certificates=tmp_path / "certs",
            log=tmp_path / "webhook.log",
            extra=["--drain-seconds", "3"],
        ) as server,
        server.client() as client,
    ):
        server.process.send_signal(signal.SIGTERM)
        readiness, verdicts = [], []
        while server.process.poll() is None:
            try:
                readiness.append(client.get("/readyz").status_code)
                verdicts.append(client.post("/validate", body).status_code)
            except httpx.TransportError:
                break  # the drain is over: the server stopped accepting
        assert server.process.wait(timeout=30) == 0
    assert readiness and set(readiness) == {503}  # not ready from the first probe on...
    assert len(verdicts) > 3 and set(verdicts) == {200}  # ...while every review is answered
    assert "draining" in server.log.read_text()
