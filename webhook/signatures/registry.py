"""An OCI distribution API client: manifests, blobs, tag resolution and referrers.

Anonymous or authenticated (see `auth`), HTTPS with an optional custom CA, plain HTTP only
for hosts the options name as insecure. Every body is size-limited and checked against its
digest, so a registry cannot swap what was asked for.
"""

from __future__ import annotations

import hashlib
import ssl
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase

import httpx

from webhook.signatures.api import RegistryOptions
from webhook.signatures.auth import Credentials, load_docker_config, parse_challenge
from webhook.signatures.errors import (
    NotFound,
    RegistryDenied,
    RegistryError,
    RegistryRateLimited,
    RegistryTimeout,
    RegistryUnreachable,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_BLOB_BYTES = 4 * 1024 * 1024
DOCKER_HUB_API = "registry-1.docker.io"
TOKEN_LIFETIME = 60.0  # seconds, when the token server does not say


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    media_type: str
    content: bytes


def sha256_digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class RegistryClient:
    """One client for every registry; tokens are kept per registry and scope until they expire."""

    def __init__(
        self,
        *,
        options: RegistryOptions,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._options = options
        self._credentials: dict[str, Credentials] = (
            load_docker_config(options.credentials) if options.credentials else {}
        )
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            verify=_ssl_context(options.ca_file),
            transport=transport,
            follow_redirects=True,
            headers={"User-Agent": "policy-webhook"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def base_url(self, registry: str) -> str:
        insecure = any(fnmatchcase(registry, pattern) for pattern in self._options.insecure)
        host = DOCKER_HUB_API if registry == "docker.io" else registry
        return f"{'http' if insecure else 'https'}://{host}"

    async def resolve(self, registry: str, repository: str, tag: str) -> str:
        """The digest `tag` points at; raises RegistryError (NotFound for an unknown tag)."""
        response = await self._request(
            "HEAD", registry, repository, f"manifests/{tag}", accept=MANIFEST_TYPES
        )
        digest = response.headers.get("Docker-Content-Digest", "")
        if digest.startswith("sha256:"):
            return str(digest)
        return (await self.manifest(registry, repository, tag)).digest

    async def manifest(self, registry: str, repository: str, reference: str) -> Manifest:
        """A manifest by tag or digest; raises RegistryError."""
        response = await self._request(
            "GET", registry, repository, f"manifests/{reference}", accept=MANIFEST_TYPES
        )
        content = await _read_limited(response, MAX_MANIFEST_BYTES, registry)
        digest = sha256_digest(content)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryUnreachable(registry, f"manifest {reference} does not match its digest")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(digest=digest, media_type=media_type, content=content)

    async def blob(self, registry: str, repository: str, digest: str) -> bytes:
        """A blob, checked against its digest; raises RegistryError."""
        response = await self._request("GET", registry, repository, f"blobs/{digest}")
        content = await _read_limited(response, MAX_BLOB_BYTES, registry)
        if sha256_digest(content) != digest:
            raise RegistryUnreachable(registry, f"blob {digest} does not match its digest")
        return content

    async def referrers(self, registry: str, repository: str, digest: str) -> Manifest | None:
        """The referrers index of `digest`, or None when the registry has no referrers API."""
        try:
            response = await self._request(
                "GET", registry, repository, f"referrers/{digest}", accept=(OCI_INDEX,)
            )
        except NotFound:
            return None
        if response.headers.get("Content-Type", "").split(";")[0].strip() != OCI_INDEX:
            await response.aclose()
            return None
        content = await _read_limited(response, MAX_MANIFEST_BYTES, registry)
        return Manifest(digest=sha256_digest(content), media_type=OCI_INDEX, content=content)

    async def _request(
        self,
        method: str,
        registry: str,
        repository: str,
        path: str,
        *,
        accept: tuple[str, ...] = (),
    ) -> httpx.Response:
        url = f"{self.base_url(registry)}/v2/{repository}/{path}"
        scope = f"repository:{repository}:pull"
        headers = {"Accept": ", ".join(accept)} if accept else {}
        token = self._tokens.get((registry, scope))
        if token is not None and token[1] > time.monotonic():
            headers["Authorization"] = token[0]
        response = await self._send(method, url, registry, headers)
        if response.status_code == 401:
            await response.aclose()
            authorization = await self._authorize(registry, scope, response)
            headers["Authorization"] = authorization
            response = await self._send(method, url, registry, headers)
        if response.status_code in (200, 206):
            return response
        await response.aclose()
        raise _status_error(registry, response.status_code, f"{method} {path}")

    async def _send(
        self, method: str, url: str, registry: str, headers: dict[str, str]
    ) -> httpx.Response:
        try:
            request = self._http.build_request(method, url, headers=headers)
            return await self._http.send(request, stream=True)
        except httpx.TimeoutException:
            raise RegistryTimeout(registry, "no answer in time") from None
        except httpx.HTTPError as error:
            raise RegistryUnreachable(registry, _describe(error)) from None

    async def _authorize(self, registry: str, scope: str, response: httpx.Response) -> str:
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        credentials = self._credentials.get(registry)
        if challenge is None:
            raise RegistryDenied(registry, "authentication required, without a challenge")
        if challenge.scheme == "basic":
            if credentials is None:
                raise RegistryDenied(registry, "credentials required and none configured")
            return credentials.basic_header()
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise RegistryDenied(registry, f"unsupported authentication {challenge.scheme!r}")
        params = {"service": challenge.params.get("service", ""), "scope": scope}
        headers = {"Authorization": credentials.basic_header()} if credentials else {}
        try:
            answer = await self._http.get(challenge.params["realm"], params=params, headers=headers)
        except httpx.TimeoutException:
            raise RegistryTimeout(registry, "token service did not answer in time") from None
        except httpx.HTTPError as error:
            raise RegistryUnreachable(registry, f"token service: {_describe(error)}") from None
        if answer.status_code != 200:
            raise _status_error(registry, answer.status_code, "token request")
        try:
            body = answer.json()
            token = str(body.get("token") or body.get("access_token") or "")
            lifetime = float(body.get("expires_in") or TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError):
            raise RegistryDenied(registry, "token service answered no token") from None
        if not token:
            raise RegistryDenied(registry, "token service answered no token")
        value = f"Bearer {token}"
        self._tokens[(registry, scope)] = (value, time.monotonic() + max(lifetime - 5.0, 1.0))
        return value


async def _read_limited(response: httpx.Response, limit: int, registry: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise RegistryUnreachable(registry, f"answer larger than {limit} bytes")
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise RegistryTimeout(registry, "answer did not arrive in time") from None
    except httpx.HTTPError as error:
        raise RegistryUnreachable(registry, _describe(error)) from None
    finally:
        await response.aclose()
    return b"".join(chunks)


def _status_error(registry: str, status: int, what: str) -> RegistryError:
    if status == 404:
        return NotFound(registry, f"{what}: not found")
    if status == 429:
        return RegistryRateLimited(registry, f"{what}: HTTP 429 too many requests")
    if status in (401, 403):
        return RegistryDenied(registry, f"{what}: HTTP {status}")
    return RegistryUnreachable(registry, f"{what}: HTTP {status}")


def _describe(error: httpx.HTTPError) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]
