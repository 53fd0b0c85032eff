"""TLS material: a CA and a serving certificate (ECDSA P-256), and the server's SSLContext.

Files are written atomically (temporary file + rename), so a reloading server never reads a
half-written certificate. Raises CertificateError for unreadable or mismatched files.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from webhook.errors import CertificateError

CA_FILE = "ca.crt"
CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
DEFAULT_DAYS = 365
CA_DAYS = 3650
LOCAL_NAMES = ("localhost",)
LOCAL_ADDRESSES = ("127.0.0.1",)
# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are fixed by OpenSSL).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def service_names(service: str, namespace: str) -> list[str]:
    """The DNS names the API server may use for a Service: NAME, NAME.NS, NAME.NS.svc, ..."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def generate_ca(*, common_name: str, days: int = CA_DAYS) -> Issued:
    """A self-signed CA that may sign serving certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate=certificate, key=key)


def generate_serving_certificate(
    ca: Issued,
    *,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    days: int = DEFAULT_DAYS,
) -> Issued:
    """A server certificate signed by `ca` for `dns_names` and `ip_addresses` (first = CN)."""
    if not dns_names:
        raise ValueError("a serving certificate needs at least one DNS name")
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    now = _now()
    not_after = min(now + datetime.timedelta(days=days), ca.certificate.not_valid_after_utc)
    alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(certificate=certificate, key=key)


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` via a temporary file in the same directory and a rename."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bundle(directory: Path, *, ca: Issued, serving: Issued) -> None:
    """Write ca.crt, tls.crt and tls.key (mode 0600) to `directory`; the key is written first."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / KEY_FILE, serving.key_pem(), mode=0o600)
    write_atomically(directory / CERT_FILE, serving.certificate_pem())
    write_atomically(directory / CA_FILE, ca.certificate_pem())


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate of a PEM file; raises CertificateError."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as error:
        raise CertificateError(f"{path}: cannot read: {error.strerror}") from None
    except ValueError as error:
        raise CertificateError(f"{path}: not a PEM certificate: {error}") from None


def bundle_is_usable(directory: Path, *, dns_names: Sequence[str], min_days: int = 30) -> bool:
    """True when the directory's bundle exists, chains to its CA, names every DNS name and
    stays valid for `min_days` more days (used by `certs --keep-existing`)."""
    try:
        ca = load_certificate(directory / CA_FILE)
        serving = load_certificate(directory / CERT_FILE)
        server_context(directory / CERT_FILE, directory / KEY_FILE)
        serving.verify_directly_issued_by(ca)
        names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (CertificateError, InvalidSignature, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    present = set(names.get_values_for_type(x509.DNSName))
    remaining = serving.not_valid_after_utc - _now()
    return set(dns_names) <= present and remaining > datetime.timedelta(days=min_days)


def server_context(
    certfile: Path, keyfile: Path, *, client_ca: Path | None = None
) -> ssl.SSLContext:
    """A server SSLContext: TLS 1.2 or newer, HTTP/1.1 via ALPN; with `client_ca`, clients
    must present a certificate that chains to it. Raises CertificateError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    except OSError as error:  # ssl.SSLError is an OSError
        reason = getattr(error, "reason", None) or error.strerror or str(error)
        raise CertificateError(f"cannot load {certfile} with {keyfile}: {reason}") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except OSError as error:
            reason = getattr(error, "reason", None) or error.strerror or str(error)
            raise CertificateError(f"cannot load the client CA {client_ca}: {reason}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context
