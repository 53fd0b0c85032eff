"""Certificates: what `certs` writes, how the server's TLS context is set up, --keep-existing."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from webhook import tls
from webhook.cli import main
from webhook.errors import CertificateError

NAMES = [
    "webhook",
    "webhook.security",
    "webhook.security.svc",
    "webhook.security.svc.cluster.local",
    "localhost",
]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    out = tmp_path / "certs"
    argv = ["certs", "--service", "webhook", "--namespace", "security", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_certs_writes_a_ca_and_a_serving_certificate_for_the_service(bundle: Path) -> None:
    ca = tls.load_certificate(bundle / "ca.crt")
    serving = tls.load_certificate(bundle / "tls.crt")
    serving.verify_directly_issued_by(ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == NAMES
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    for certificate in (ca, serving):
        key = certificate.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == "secp256r1"
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert serving.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert stat.S_IMODE((bundle / "tls.key").stat().st_mode) == 0o600


def test_keep_existing_keeps_a_usable_bundle_and_replaces_others(bundle: Path) -> None:
    before = (bundle / "tls.crt").read_bytes()
    argv = ["certs", "--service", "webhook", "--namespace", "security", "--out", str(bundle)]
    assert main([*argv, "--keep-existing"]) == 0
    assert (bundle / "tls.crt").read_bytes() == before
    other = ["certs", "--service", "other", "--namespace", "security", "--out", str(bundle)]
    assert main([*other, "--keep-existing"]) == 0
    assert (bundle / "tls.crt").read_bytes() != before
    assert main([*argv]) == 0
    replaced = (bundle / "tls.crt").read_bytes()
    (bundle / "tls.key").write_bytes(tls.generate_ca(common_name="x").key_pem())  # mismatch
    assert main([*argv, "--keep-existing"]) == 0
    assert (bundle / "tls.crt").read_bytes() != replaced
    tls.server_context(bundle / "tls.crt", bundle / "tls.key")


def test_a_key_that_does_not_match_is_refused(bundle: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(tls.generate_ca(common_name="x").key_pem())
    with pytest.raises(CertificateError, match="cannot load"):
        tls.server_context(bundle / "tls.crt", other)
    with pytest.raises(CertificateError):
        tls.server_context(bundle / "missing.crt", bundle / "tls.key")


def _handshake(bundle: Path, client: ssl.SSLContext, server_name: str) -> str:
    """Serve one TLS handshake on loopback; return the negotiated version."""
    server = tls.server_context(bundle / "tls.crt", bundle / "tls.key")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept() -> None:
            connection, _ = listener.accept()
            try:
                with server.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=accept)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client.wrap_socket(raw, server_hostname=server_name) as wrapped,
            ):
                return str(wrapped.version())
        finally:
            thread.join(timeout=5)


def test_the_service_name_verifies_against_the_ca(bundle: Path) -> None:
    client = ssl.create_default_context(cafile=str(bundle / "ca.crt"))
    assert _handshake(bundle, client, "webhook.security.svc") == "TLSv1.3"
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(bundle, client, "webhook.elsewhere.svc")


def test_tls_1_2_is_the_minimum(bundle: Path) -> None:
    server = tls.server_context(bundle / "tls.crt", bundle / "tls.key")
    assert server.minimum_version is ssl.TLSVersion.TLSv1_2
    client = ssl.create_default_context(cafile=str(bundle / "ca.crt"))
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    assert _handshake(bundle, client, "webhook.security.svc") == "TLSv1.2"


def test_certs_reports_an_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    argv = ["certs", "--service", "w", "--namespace", "n", "--out", str(blocker / "sub")]
    assert main(argv) == 2
