"""The registry-backed Verifier: tag to digest, fetch cosign signatures and bundles, assess, cache.

Results are cached by image digest and requirement (tags by name for a shorter time), lookups
in flight are shared, and every call ends by its deadline: whatever is unanswered then is
reported as timed out, never waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from webhook.images import ImageReference, ImageReferenceError, parse_image
from webhook.signatures.api import (
    Outcome,
    RegistryOptions,
    Requirement,
    SignatureRequest,
    SignatureResult,
)
from webhook.signatures.assess import SimpleSignature, assess
from webhook.signatures.cache import SingleFlightCache
from webhook.signatures.cosign import (
    FormatError,
    bundle_layer,
    bundle_manifests,
    parse_manifest,
    referrers_tag,
    signature_layers,
    signature_tag,
)
from webhook.signatures.errors import NotFound, RegistryError
from webhook.signatures.registry import OCI_INDEX, RegistryClient


@dataclass(frozen=True, slots=True)
class VerifierSettings:
    ttl: float = 300.0  # verified results
    negative_ttl: float = 10.0  # failures, so a fix (or a registry coming back) is seen soon
    tag_ttl: float = 30.0  # tag -> digest
    max_entries: int = 10_000
    request_timeout: float = 5.0  # one HTTP call; each verify() has its own deadline as well


Resolved = str | SignatureResult  # a digest, or why there is none
Material = tuple[list[SimpleSignature], list[bytes]] | SignatureResult  # what the registry holds


class RegistryVerifier:
    """Implements the Verifier protocol against OCI registries."""

    def __init__(
        self,
        *,
        settings: VerifierSettings = VerifierSettings(),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._now = now
        self._clients: dict[RegistryOptions, RegistryClient] = {}
        self._digests: SingleFlightCache[tuple[str, str, RegistryOptions], Resolved] = (
            SingleFlightCache(
                ttl_of=lambda v: settings.tag_ttl if isinstance(v, str) else settings.negative_ttl,
                max_entries=settings.max_entries,
            )
        )
        self._material: SingleFlightCache[tuple[str, str, RegistryOptions], Material] = (
            SingleFlightCache(
                ttl_of=lambda v: (
                    settings.negative_ttl if isinstance(v, SignatureResult) else settings.tag_ttl
                ),
                max_entries=settings.max_entries,
            )
        )
        self.results: SingleFlightCache[
            tuple[str, str, Requirement, RegistryOptions], SignatureResult
        ] = SingleFlightCache(
            ttl_of=lambda r: settings.ttl if r.verified else settings.negative_ttl,
            max_entries=settings.max_entries,
        )

    async def aclose(self) -> None:
        """Stop lookups still running (past their callers' deadlines), then close connections."""
        for cache in (self.results, self._material, self._digests):
            await cache.cancel_flights()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def verify(
        self, requests: Sequence[SignatureRequest], *, timeout: float
    ) -> dict[SignatureRequest, SignatureResult]:
        """A result for every request within `timeout` seconds; late ones are TIMED_OUT."""
        answers: dict[SignatureRequest, SignatureResult] = {}
        missing = []
        for request in dict.fromkeys(requests):
            cached = self._cached(request)
            if cached is None:
                missing.append(request)
            else:
                answers[request] = cached
        if not missing:
            return answers  # the warm path: no task, no await
        tasks = {request: asyncio.ensure_future(self._verify_one(request)) for request in missing}
        await asyncio.wait(tasks.values(), timeout=max(timeout, 0.0))
        for request, task in tasks.items():
            if task.done():
                answers[request] = task.result()
            else:
                task.cancel()
                registry = _registry_of(request.image)
                answers[request] = SignatureResult(
                    Outcome.TIMED_OUT,
                    detail=f"registry {registry} did not answer within {timeout:g}s",
                )
        return answers

    def _cached(self, request: SignatureRequest) -> SignatureResult | None:
        """The cached answer to `request`, when there is a fresh one."""
        try:
            image = parse_image(request.image)
        except ImageReferenceError:
            return None
        digest = image.digest
        if digest is None:
            resolved = self._digests.peek((image.name, image.tag or "latest", request.registries))
            if resolved is None:
                return None
            if isinstance(resolved, SignatureResult):
                return resolved
            digest = resolved
        return self.results.peek((image.name, digest, request.requirement, request.registries))

    def _client(self, options: RegistryOptions) -> RegistryClient:
        client = self._clients.get(options)
        if client is None:
            client = RegistryClient(options=options, timeout=self.settings.request_timeout)
            self._clients[options] = client
        return client

    async def _verify_one(self, request: SignatureRequest) -> SignatureResult:
        try:
            image = parse_image(request.image)
            client = self._client(request.registries)
        except (ImageReferenceError, OSError, ValueError) as error:
            return SignatureResult(Outcome.ERROR, detail=str(error))
        digest = image.digest
        if digest is None:
            key = (image.name, image.tag or "latest", request.registries)
            resolved = await self._digests.get(key, lambda: _resolve(client, image))
            if isinstance(resolved, SignatureResult):
                return resolved
            digest = resolved
        found = digest
        return await self.results.get(
            (image.name, found, request.requirement, request.registries),
            lambda: self._assess(client, image, found, request),
        )

    async def _assess(
        self,
        client: RegistryClient,
        image: ImageReference,
        digest: str,
        request: SignatureRequest,
    ) -> SignatureResult:
        material = await self._material.get(
            (image.name, digest, request.registries), lambda: _fetch(client, image, digest)
        )
        if isinstance(material, SignatureResult):
            return material
        simple, bundles = material
        return assess(digest, simple, bundles, request.requirement, now=self._now())


async def _fetch(client: RegistryClient, image: ImageReference, digest: str) -> Material:
    try:
        simple, bundles = await asyncio.gather(
            _simple_signatures(client, image, digest), _bundles(client, image, digest)
        )
    except RegistryError as error:
        return SignatureResult(error.outcome, digest=digest, detail=str(error))
    except FormatError as error:
        return SignatureResult(Outcome.ERROR, digest=digest, detail=str(error))
    return simple, bundles


async def _resolve(client: RegistryClient, image: ImageReference) -> Resolved:
    try:
        return await client.resolve(image.registry, image.repository, image.tag or "latest")
    except NotFound:
        return SignatureResult(
            Outcome.IMAGE_NOT_FOUND, detail=f"tag {image.tag or 'latest'} not found in {image.name}"
        )
    except RegistryError as error:
        return SignatureResult(error.outcome, detail=str(error))


async def _simple_signatures(
    client: RegistryClient, image: ImageReference, digest: str
) -> list[SimpleSignature]:
    try:
        manifest = await client.manifest(image.registry, image.repository, signature_tag(digest))
    except NotFound:
        return []
    layers = signature_layers(parse_manifest(manifest.content))
    wanted = list(dict.fromkeys(layer.payload_digest for layer in layers))
    payloads = await asyncio.gather(
        *(client.blob(image.registry, image.repository, blob) for blob in wanted)
    )
    by_digest = dict(zip(wanted, payloads, strict=True))
    return [
        SimpleSignature(layer=layer, payload=by_digest[layer.payload_digest]) for layer in layers
    ]


async def _bundles(client: RegistryClient, image: ImageReference, digest: str) -> list[bytes]:
    index = await client.referrers(image.registry, image.repository, digest)
    if index is None:
        try:
            index = await client.manifest(image.registry, image.repository, referrers_tag(digest))
        except NotFound:
            return []
        if index.media_type != OCI_INDEX:
            return []
    found = []
    for manifest_digest in bundle_manifests(parse_manifest(index.content)):
        manifest = await client.manifest(image.registry, image.repository, manifest_digest)
        layer = bundle_layer(parse_manifest(manifest.content))
        if layer is not None:
            found.append(await client.blob(image.registry, image.repository, layer))
    return found


def _registry_of(image: str) -> str:
    try:
        return parse_image(image).registry
    except ImageReferenceError:
        return image
