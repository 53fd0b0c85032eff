"""Public keys in PEM (ECDSA P-256/P-384, RSA, Ed25519) and signature checks with them.

The hash follows cosign: SHA-256 for every key, and the curve's own hash for P-384 as
sigstore's newer clients use; RSA is PKCS#1 v1.5 or PSS.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
MAX_KEY_FILE_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


def load_public_key(pem: str) -> PublicKey:
    """Parse a PEM public key; raises ValueError naming what is wrong."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as error:
        raise ValueError(f"not a PEM public key: {error}") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, CURVES):
            raise ValueError(f"unsupported curve {key.curve.name}")
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {key.key_size} bits is too small")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise ValueError(f"unsupported key type {type(key).__name__}")


def read_public_key_file(path: Path) -> str:
    """The PEM text of a key file, validated; raises ValueError (also for unreadable files)."""
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise ValueError(f"{path}: larger than {MAX_KEY_FILE_BYTES} bytes")
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read key file {path}: {error}") from None
    try:
        load_public_key(text)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return text


def verify_signature(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether `signature` over `data` verifies with `key`."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey):
            return _verify_ecdsa(key, signature, data)
        return _verify_rsa(key, signature, data)
    except InvalidSignature:
        return False


def _verify_ecdsa(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    algorithms: list[hashes.HashAlgorithm] = [hashes.SHA256()]
    if isinstance(key.curve, ec.SECP384R1):
        algorithms.append(hashes.SHA384())
    elif isinstance(key.curve, ec.SECP521R1):
        algorithms.append(hashes.SHA512())
    for algorithm in algorithms:
        try:
            key.verify(signature, data, ec.ECDSA(algorithm))
            return True
        except InvalidSignature:
            continue
    return False


def _verify_rsa(key: rsa.RSAPublicKey, signature: bytes, data: bytes) -> bool:
    paddings: list[padding.AsymmetricPadding] = [
        padding.PKCS1v15(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
    ]
    for scheme in paddings:
        try:
            key.verify(signature, data, scheme, hashes.SHA256())
            return True
        except InvalidSignature:
            continue
    return False
