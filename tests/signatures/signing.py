"""Signing in cosign's formats for tests: images, simple-signing payloads, `.sig` manifests,
and a private Sigstore (Fulcio-like CA, Rekor key, trusted root) for keyless signatures."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.signatures.oci import Pusher

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def public_pem(key: PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign as cosign does: ECDSA with SHA-256, RSA PKCS#1 v1.5 with SHA-256, or Ed25519."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def payload(reference: str, digest: str) -> bytes:
    """cosign's simple-signing payload for `reference` at `digest`."""
    body = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def push_image(pusher: Pusher, repository: str, tag: str, *, seed: str = "") -> str:
    """Push a small image (config + one layer) under `tag`; returns its digest."""
    layer = (seed or tag).encode() + os.urandom(16)
    config = _json({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": pusher.blob(repository, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": pusher.blob(repository, layer),
                "size": len(layer),
            }
        ],
    }
    return pusher.manifest(repository, tag, _json(manifest), OCI_MANIFEST)


@dataclass
class Layer:
    payload: bytes
    signature: bytes
    annotations: dict[str, str] = field(default_factory=dict)


def push_signatures(pusher: Pusher, repository: str, digest: str, layers: list[Layer]) -> str:
    """Push a cosign `.sig` manifest for `digest` with one simple-signing layer per signature."""
    descriptors = []
    for layer in layers:
        annotations = {
            "dev.cosignproject.cosign/signature": base64.b64encode(layer.signature).decode(),
            **layer.annotations,
        }
        descriptors.append(
            {
                "mediaType": SIMPLE_SIGNING,
                "digest": pusher.blob(repository, layer.payload),
                "size": len(layer.payload),
                "annotations": annotations,
            }
        )
    config = _json({"architecture": "", "os": "", "rootfs": {"type": "layers"}})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": pusher.blob(repository, config),
            "size": len(config),
        },
        "layers": descriptors,
    }
    tag = digest.replace(":", "-") + ".sig"
    return pusher.manifest(repository, tag, _json(manifest), OCI_MANIFEST)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


class PrivateSigstore:
    """A Fulcio-like CA and a Rekor key, with the trusted root JSON that names them."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        name = _name("test-fulcio")
        self.root = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=365))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key()),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA384())
        )

    def leaf(
        self,
        *,
        subject: str,
        issuer: str,
        not_before: dt.datetime,
        lifetime: dt.timedelta = dt.timedelta(minutes=10),
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A short-lived signing certificate for an OIDC identity, as Fulcio issues it."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + lifetime)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(subject)]), True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), _utf8(issuer)
                ),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA384())
        )
        return key, cert

    def log_id(self) -> str:
        der = self.rekor_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()

    def rekor_bundle(
        self, *, signed: bytes, signature: bytes, public: str, integrated: dt.datetime
    ) -> str:
        """A cosign `dev.sigstore.cosign/bundle`: hashedrekord body and its SET."""
        body = {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {
                    "hash": {"algorithm": "sha256", "value": hashlib.sha256(signed).hexdigest()}
                },
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "publicKey": {"content": base64.b64encode(public.encode()).decode()},
                },
            },
        }
        entry: dict[str, Any] = {
            "body": base64.b64encode(_json(body)).decode(),
            "integratedTime": int(integrated.timestamp()),
            "logID": self.log_id(),
            "logIndex": 42,
        }
        set_ = self.rekor_key.sign(rfc8785.dumps(entry), ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {"SignedEntryTimestamp": base64.b64encode(set_).decode(), "Payload": entry}
        )

    def trusted_root(self) -> str:
        """The trusted root JSON (Sigstore's format) that trusts this CA and Rekor key."""
        der = self.rekor_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        start = "2020-01-01T00:00:00.000Z"
        return json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [
                    {
                        "baseUrl": "https://rekor.sigstore.test",
                        "hashAlgorithm": "SHA2_256",
                        "publicKey": {
                            "rawBytes": base64.b64encode(der).decode(),
                            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                            "validFor": {"start": start},
                        },
                        "logId": {"keyId": base64.b64encode(bytes.fromhex(self.log_id())).decode()},
                    }
                ],
                "certificateAuthorities": [
                    {
                        "subject": {"organization": "sigstore.test", "commonName": "test-fulcio"},
                        "uri": "https://fulcio.sigstore.test",
                        "certChain": {
                            "certificates": [
                                {
                                    "rawBytes": base64.b64encode(
                                        self.root.public_bytes(serialization.Encoding.DER)
                                    ).decode()
                                }
                            ]
                        },
                        "validFor": {"start": start},
                    }
                ],
                "ctlogs": [],
                "timestampAuthorities": [],
            }
        )


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def push_bundle_referrer(pusher: Pusher, repository: str, digest: str, bundle: bytes) -> str:
    """Attach a Sigstore bundle to `digest` as cosign does, with the referrers tag fallback."""
    empty = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": pusher.blob(repository, empty),
            "size": len(empty),
        },
        "layers": [
            {
                "mediaType": BUNDLE_TYPE,
                "digest": pusher.blob(repository, bundle),
                "size": len(bundle),
            }
        ],
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": 0},
    }
    content = _json(manifest)
    referrer = pusher.manifest(repository, f"bundle-{digest[7:19]}", content, OCI_MANIFEST)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": referrer,
                "size": len(content),
                "artifactType": BUNDLE_TYPE,
            }
        ],
    }
    return pusher.manifest(repository, digest.replace(":", "-"), _json(index), OCI_INDEX)


def key_signed_bundle(key: PrivateKey, reference: str, digest: str) -> bytes:
    """A Sigstore bundle v0.3 as cosign v3 `sign --key` writes it: a DSSE in-toto statement."""
    statement = _json(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": reference, "digest": {"sha256": digest.split(":", 1)[1]}}],
            "predicateType": "https://sigstore.dev/cosign/sign/v1",
            "predicate": {},
        }
    )
    kind = b"application/vnd.in-toto+json"
    signed = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(statement), statement)
    return _json(
        {
            "mediaType": BUNDLE_TYPE,
            "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": base64.b64encode(statement).decode(),
                "payloadType": kind.decode(),
                "signatures": [{"sig": base64.b64encode(sign(key, signed)).decode()}],
            },
        }
    )
