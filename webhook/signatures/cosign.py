"""cosign's storage formats in a registry: signature manifests, simple-signing payloads, bundles.

Key and keyless signatures live under the tag `sha256-<hex>.sig`, one simple-signing layer per
signature with its signature, certificate, chain and Rekor bundle in annotations. Sigstore
bundles are OCI referrers of the image (referrers API, or the `sha256-<hex>` index tag).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
BUNDLE_MEDIA_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
    }
)
MAX_SIGNATURES = 32  # layers looked at per image; more is an attack, not a release process


class FormatError(ValueError):
    """Registry content is not in the format cosign writes."""


class Descriptor(msgspec.Struct, rename="camel", frozen=True):
    media_type: str = ""
    digest: str = ""
    size: int = 0
    annotations: dict[str, str] = {}
    artifact_type: str = ""


class ImageManifest(msgspec.Struct, rename="camel"):
    media_type: str = ""
    artifact_type: str = ""
    config: Descriptor = Descriptor()
    layers: list[Descriptor] = []
    manifests: list[Descriptor] = []  # set when the document is an index


class _ImageRef(msgspec.Struct, rename="kebab"):
    docker_manifest_digest: str


class _Critical(msgspec.Struct):
    image: _ImageRef
    type: str = ""


class _SimpleSigning(msgspec.Struct):
    critical: _Critical


@dataclass(frozen=True, slots=True)
class SignatureLayer:
    """One cosign signature: which payload blob it signs and the material in its annotations."""

    payload_digest: str
    signature: str  # base64, as cosign writes it
    certificate: str | None
    chain: str | None
    bundle: str | None


def signature_tag(digest: str) -> str:
    """`sha256:ab..` -> `sha256-ab...sig`, the tag cosign pushes signatures under."""
    return f"{referrers_tag(digest)}.sig"


def referrers_tag(digest: str) -> str:
    """`sha256:ab..` -> `sha256-ab..`, the referrers tag-schema fallback."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}"


def parse_manifest(content: bytes) -> ImageManifest:
    """An image manifest or index; raises FormatError."""
    try:
        return msgspec.json.decode(content, type=ImageManifest)
    except msgspec.DecodeError as error:
        raise FormatError(f"not an OCI manifest: {error}") from None


def signature_layers(manifest: ImageManifest) -> list[SignatureLayer]:
    """The simple-signing layers of a `.sig` manifest that carry a signature."""
    found = []
    for layer in manifest.layers[:MAX_SIGNATURES]:
        annotations = layer.annotations
        signature = annotations.get(SIGNATURE_ANNOTATION)
        if layer.media_type != SIMPLE_SIGNING or not signature:
            continue
        found.append(
            SignatureLayer(
                payload_digest=layer.digest,
                signature=signature,
                certificate=annotations.get(CERTIFICATE_ANNOTATION) or None,
                chain=annotations.get(CHAIN_ANNOTATION) or None,
                bundle=annotations.get(BUNDLE_ANNOTATION) or None,
            )
        )
    return found


def signed_digest(payload: bytes) -> str:
    """The image digest a simple-signing payload names; raises FormatError."""
    try:
        return msgspec.json.decode(
            payload, type=_SimpleSigning
        ).critical.image.docker_manifest_digest
    except msgspec.DecodeError as error:
        raise FormatError(f"not a simple-signing payload: {error}") from None


def bundle_manifests(index: ImageManifest) -> list[str]:
    """Digests of the referrers in `index` that hold a Sigstore bundle."""
    return [
        entry.digest
        for entry in index.manifests[:MAX_SIGNATURES]
        if entry.artifact_type in BUNDLE_MEDIA_TYPES
    ]


def bundle_layer(manifest: ImageManifest) -> str | None:
    """The digest of the layer holding the bundle in a referrer manifest, if any."""
    for layer in manifest.layers:
        if layer.media_type in BUNDLE_MEDIA_TYPES:
            return layer.digest
    return None
