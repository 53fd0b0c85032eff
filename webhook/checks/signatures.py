"""`imageSignatures`: images must carry signatures from the listed keys or identities; pure.

The check names what to verify (`lookups`); the engine has a verifier answer before the check
runs, and `run` turns the answers into findings. Key and trusted-root files are read and
validated when the policy loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from webhook.cel import CELCompileError, check_regex
from webhook.checks.base import (
    CheckDefinition,
    CheckParams,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
)
from webhook.findings import Violation
from webhook.images import ImageReferenceError, parse_image
from webhook.signatures.api import (
    KeylessSigner,
    KeySigner,
    Outcome,
    RegistryOptions,
    RekorPolicy,
    Requirement,
    SignatureRequest,
    SignatureResult,
    Signer,
)
from webhook.workload import Container

JSONObject = dict[str, Any]


class KeyParams(CheckParams):
    name: str | None = None
    file: str | None = None  # relative to the policy file
    pem: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KeyParams:
        if (self.file is None) == (self.pem is None):
            raise ValueError("a key needs exactly one of `file` or `pem`")
        return self


class KeylessParams(CheckParams):
    name: str | None = None
    issuer: str | None = None
    issuerRegExp: str | None = None
    subject: str | None = None
    subjectRegExp: str | None = None

    @model_validator(mode="after")
    def _identity(self) -> KeylessParams:
        for pattern in (self.issuerRegExp, self.subjectRegExp):
            if pattern is not None:
                try:
                    check_regex(pattern)
                except CELCompileError as error:  # RE2, like cosign: linear time
                    raise ValueError(f"{pattern!r} is no RE2 regular expression: {error}") from None
        if self.issuer is None and self.issuerRegExp is None:
            raise ValueError("a keyless signer needs `issuer` or `issuerRegExp`")
        if self.subject is None and self.subjectRegExp is None:
            raise ValueError("a keyless signer needs `subject` or `subjectRegExp`")
        return self


class RegistriesParams(CheckParams):
    insecure: list[str] = []  # registry host globs reached over plain HTTP
    credentials: str | None = None  # a dockerconfigjson file (an image pull secret's content)
    caFile: str | None = None


class ImageSignaturesParams(CheckParams):
    images: list[str] = Field(default=["*"], min_length=1)  # globs on the image reference
    keys: list[KeyParams] = []
    keyless: list[KeylessParams] = []
    required: int = Field(default=1, ge=1)
    rekor: Literal["required", "optional"] = "optional"
    trustedRoot: str | None = None  # Sigstore trusted-root JSON; default: the public-good root
    pinDigest: bool = False  # /mutate rewrites tags to the verified digest
    requireDigest: bool = False  # admit only images already pinned by digest (no mutation)
    registries: RegistriesParams = RegistriesParams()

    @model_validator(mode="after")
    def _consistent(self) -> ImageSignaturesParams:
        count = len(self.keys) + len(self.keyless)
        if not count:
            raise ValueError("list at least one signer in `keys` or `keyless`")
        if self.required > count:
            raise ValueError(f"`required` is {self.required} but only {count} signers are listed")
        if self.pinDigest and self.requireDigest:
            raise ValueError("`pinDigest` and `requireDigest` exclude each other")
        return self


def _path(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


def _signers(params: ImageSignaturesParams, base: Path) -> tuple[Signer, ...]:
    # cryptography is imported only when a policy lists keys.
    from webhook.signatures.keys import load_public_key, read_public_key_file

    signers: list[Signer] = []
    for index, key in enumerate(params.keys):
        if key.file is not None:
            pem = read_public_key_file(_path(base, key.file))
            default = Path(key.file).stem
        else:
            assert key.pem is not None
            load_public_key(key.pem)
            pem, default = key.pem, f"key-{index + 1}"
        signers.append(KeySigner(name=key.name or default, pem=pem))
    for who in params.keyless:
        signers.append(
            KeylessSigner(
                name=who.name or who.subject or who.subjectRegExp or "keyless",
                issuer=who.issuer,
                issuer_regexp=who.issuerRegExp,
                subject=who.subject,
                subject_regexp=who.subjectRegExp,
            )
        )
    names = [signer.name for signer in signers]
    if len(set(names)) != len(names):
        raise ValueError("signer names must be unique (set `name` on keys and keyless entries)")
    return tuple(signers)


def _what(signers: Sequence[Signer]) -> str:
    if all(isinstance(signer, KeySigner) for signer in signers):
        return "keys"
    if all(isinstance(signer, KeylessSigner) for signer in signers):
        return "identities"
    return "signers"


def short_digest(digest: str | None) -> str:
    return f"{digest[:19]}..." if digest else "digest unknown"


def compile_signatures(source: CompileInput[ImageSignaturesParams]) -> CompiledCheck:
    params, base = source.params, source.source_dir
    signers = _signers(params, base)
    trusted_root = None
    if params.trustedRoot:
        # sigstore is imported only when a policy names a trusted root.
        from webhook.signatures.trust import read_trusted_root

        trusted_root = read_trusted_root(_path(base, params.trustedRoot))
    requirement = Requirement(
        signers=signers,
        required=params.required,
        rekor=RekorPolicy(params.rekor),
        trusted_root=trusted_root,
    )
    registries = RegistryOptions(
        insecure=tuple(params.registries.insecure),
        credentials=str(_path(base, params.registries.credentials))
        if params.registries.credentials
        else None,
        ca_file=str(_path(base, params.registries.caFile)) if params.registries.caFile else None,
    )
    patterns = tuple(params.images)
    what = _what(requirement.signers)

    def covered(ctx: EvaluationContext) -> list[tuple[Container, str]]:
        assert ctx.pod is not None
        found = []
        for container in ctx.pod.containers:
            image = container.spec.get("image")
            if isinstance(image, str) and any(fnmatchcase(image, p) for p in patterns):
                found.append((container, image))
        return found

    def request(image: str) -> SignatureRequest:
        return SignatureRequest(image=image, requirement=requirement, registries=registries)

    def unpinned(image: str) -> bool:
        try:
            return params.requireDigest and not parse_image(image).pinned
        except ImageReferenceError:
            return False  # the verifier reports the bad reference

    def lookups(ctx: EvaluationContext) -> list[SignatureRequest]:
        return [request(image) for _, image in covered(ctx) if not unpinned(image)]

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        violations = []
        for container, image in covered(ctx):
            path = container.field_path("image")
            if unpinned(image):
                violations.append(
                    Violation(
                        f'{container.label} image "{image}" is not pinned by digest: this rule '
                        "admits only images pinned as name@sha256:... in Git",
                        path,
                        container.name,
                    )
                )
                continue
            result = ctx.lookups.get(request(image))
            violation = _violation(container, image, result, what, requirement.required)
            if violation is not None:
                violations.append(Violation(violation[0], path, container.name, violation[1]))
        return violations

    def patches(ctx: EvaluationContext) -> list[JSONObject]:
        found = []
        for container, image in covered(ctx):
            result = ctx.lookups.get(request(image))
            if result is None or not result.verified or result.digest is None:
                continue
            try:
                reference = parse_image(image)
            except ImageReferenceError:
                continue
            if reference.digest is None:
                name = image.removesuffix(f":{reference.tag}") if reference.tag else image
                pinned = f"{name}@{result.digest}"
                found.append(
                    {"op": "replace", "path": container.field_path("image"), "value": pinned}
                )
        return found

    return CompiledCheck(
        run=run,
        lookups=lookups,
        patches=patches if params.pinDigest else None,
        reads_managed_fields=False,  # the containers' images only
    )


def _violation(
    container: Container, image: str, result: SignatureResult | None, what: str, required: int
) -> tuple[str, bool] | None:
    """(message, could-not-decide) for a result that does not admit the image, else None."""
    head = f'{container.label} image "{image}"'
    if result is None:
        return f"{head} could not be verified: no answer from the signature verifier", True
    outcome = result.outcome
    if outcome in (Outcome.VERIFIED, Outcome.NOT_CHECKED):
        return None
    digest = short_digest(result.digest)
    if outcome is Outcome.INSUFFICIENT:
        return (
            f"{head} ({digest}) has signatures from {len(result.signers)} of the {required} "
            f"required {what} ({result.detail})",
            False,
        )
    if outcome in (Outcome.UNTRUSTED, Outcome.NOT_SIGNED):
        return (
            f"{head} ({digest}) has no signature from the required {what} ({result.detail})",
            False,
        )
    if outcome is Outcome.IMAGE_NOT_FOUND:
        return f"{head} was not found in its registry ({result.detail})", False
    return f"{head} could not be verified: {outcome.value} ({result.detail})", True


DEFINITIONS: list[CheckDefinition[ImageSignaturesParams]] = [
    CheckDefinition(
        name="imageSignatures",
        params=ImageSignaturesParams,
        compile=compile_signatures,
        summary="Images carry cosign/Sigstore signatures from the required keys or identities, "
        "verified against their registry.",
    ),
]
