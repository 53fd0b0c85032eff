"""Sigstore trust material: Fulcio CA certificates and Rekor keys from a trusted root.

The default is the public-good root shipped with the sigstore package (read offline, no
network); a custom trusted-root JSON file can replace it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from sigstore._internal.trust import KeyringPurpose, RekorKeyring
from sigstore._utils import KeyID
from sigstore.errors import Error as SigstoreError
from sigstore.errors import VerificationError
from sigstore.models import ClientTrustConfig, TrustedRoot
from sigstore_models.trustroot import v1 as trustroot_v1


class TrustError(ValueError):
    """A trusted root could not be loaded."""


@dataclass(frozen=True, slots=True)
class TrustMaterial:
    root: TrustedRoot
    fulcio: tuple[x509.Certificate, ...]
    rekor: RekorKeyring

    def rekor_signed(self, *, log_id: bytes, signature: bytes, data: bytes) -> bool:
        """Whether a Rekor key of this root signed `data` (a signed entry timestamp)."""
        try:
            self.rekor.verify(key_id=KeyID(log_id), signature=signature, data=data)
        except VerificationError:
            return False
        return True


def _material(root: TrustedRoot) -> TrustMaterial:
    try:
        return TrustMaterial(
            root=root,
            fulcio=tuple(root.get_fulcio_certs()),
            rekor=root.rekor_keyring(KeyringPurpose.VERIFY),
        )
    except SigstoreError as error:
        raise TrustError(f"trusted root is incomplete: {error}") from None


@lru_cache(maxsize=1)
def public_good() -> TrustMaterial:
    """The Sigstore public-good trusted root bundled with the sigstore package."""
    # sigstore logs a warning on every offline load; it is the point here, not news.
    tuf_logger = logging.getLogger("sigstore._internal.tuf")
    level = tuf_logger.level
    tuf_logger.setLevel(logging.ERROR)
    try:
        return _material(ClientTrustConfig.production(offline=True).trusted_root)
    finally:
        tuf_logger.setLevel(level)


@lru_cache(maxsize=8)
def from_json(text: str) -> TrustMaterial:
    """Trust material from the JSON of a trusted root; raises TrustError."""
    try:
        root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(text))
    except (SigstoreError, ValueError) as error:
        raise TrustError(f"not a Sigstore trusted root: {error}") from None
    return _material(root)


def material_for(trusted_root: str | None) -> TrustMaterial:
    """The custom root when one is given, else the public-good root; raises TrustError."""
    return from_json(trusted_root) if trusted_root else public_good()


def read_trusted_root(path: Path) -> str:
    """The JSON text of a trusted-root file, validated at policy load; raises ValueError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read trusted root {path}: {error}") from None
    try:
        from_json(text)
    except TrustError as error:
        raise ValueError(f"{path}: {error}") from None
    return text
