"""What the engine asks a signature verifier and what it gets back; pure types and the Protocol.

Requests are hashable: they key the lookups handed to checks and the verifier's result cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class RekorPolicy(StrEnum):
    REQUIRED = "required"  # every counted signature needs transparency-log evidence
    OPTIONAL = "optional"  # evidence is checked when present, not demanded


@dataclass(frozen=True, slots=True)
class KeySigner:
    """A signer known by its public key (PEM text, already validated at policy load)."""

    name: str
    pem: str


@dataclass(frozen=True, slots=True)
class KeylessSigner:
    """A signer known by its Fulcio certificate identity: issuer and subject, exact or regexp."""

    name: str
    issuer: str | None = None
    issuer_regexp: str | None = None
    subject: str | None = None
    subject_regexp: str | None = None


Signer = KeySigner | KeylessSigner


@dataclass(frozen=True, slots=True)
class Requirement:
    """Who must have signed: `required` distinct signers out of `signers`."""

    signers: tuple[Signer, ...]
    required: int = 1
    rekor: RekorPolicy = RekorPolicy.OPTIONAL
    trusted_root: str | None = None  # JSON of a custom Sigstore trusted root; None: public good

    @property
    def keyless(self) -> bool:
        return any(isinstance(signer, KeylessSigner) for signer in self.signers)


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """How to reach registries: hosts allowed over plain HTTP (globs), credentials, a CA bundle."""

    insecure: tuple[str, ...] = ()
    credentials: str | None = None  # path of a dockerconfigjson file
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class SignatureRequest:
    """Verify that `image` (a reference with a tag or a digest) meets `requirement`."""

    image: str
    requirement: Requirement
    registries: RegistryOptions = RegistryOptions()


class Outcome(StrEnum):
    """Why a verification ended as it did; every failure has its own reason."""

    VERIFIED = "verified"
    NOT_SIGNED = "not signed"
    UNTRUSTED = "signed by someone else"
    INSUFFICIENT = "not enough signers"
    IMAGE_NOT_FOUND = "image not found"
    UNREACHABLE = "registry unreachable"
    RATE_LIMITED = "rate limited"
    DENIED = "registry denied access"
    TIMED_OUT = "timed out"
    ERROR = "verification error"
    NOT_CHECKED = "not checked"  # verification was switched off (`check --skip-signatures`)

    @property
    def retryable(self) -> bool:
        """A transient failure: cached only briefly."""
        return self in _TRANSIENT


_TRANSIENT = frozenset(
    {Outcome.UNREACHABLE, Outcome.RATE_LIMITED, Outcome.TIMED_OUT, Outcome.DENIED, Outcome.ERROR}
)


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """The answer for one request: the digest verified (when known), who signed, what was found."""

    outcome: Outcome
    digest: str | None = None
    signers: tuple[str, ...] = ()  # names of the required signers that matched
    found: int = 0  # signatures found on the image
    detail: str = ""  # what was found, for the message: "by an unknown key"

    @property
    def verified(self) -> bool:
        return self.outcome is Outcome.VERIFIED


Lookups = Mapping[SignatureRequest, SignatureResult]


class Verifier(Protocol):
    """Answers signature requests within `timeout` seconds; never raises for a registry failure."""

    async def verify(
        self, requests: Sequence[SignatureRequest], *, timeout: float
    ) -> dict[SignatureRequest, SignatureResult]: ...

    async def aclose(self) -> None:
        """Release connections; called once, on the event loop that used the verifier."""


class SkipVerification:
    """A Verifier that verifies nothing: every request is NOT_CHECKED (`--skip-signatures`)."""

    async def verify(
        self, requests: Sequence[SignatureRequest], *, timeout: float
    ) -> dict[SignatureRequest, SignatureResult]:
        skipped = SignatureResult(Outcome.NOT_CHECKED, detail="signature verification skipped")
        return dict.fromkeys(requests, skipped)

    async def aclose(self) -> None:
        return None
