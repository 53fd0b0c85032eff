"""Just enough of a Kubernetes API client for namespaces: GET, paginated LIST and WATCH.

httpx over TLS verified against the cluster CA, authenticated with the service account's
bearer token. Kubelet rotates bound tokens in place (a `..data` symlink swap), so the token
file is re-read when it changes, and once more when the API answers 401.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec

from webhook import __version__
from webhook.errors import ExpiredError, KubeApiError, KubeConfigError
from webhook.kube.objects import NAMESPACE, NAMESPACE_LIST, STATUS, Namespace, WatchEvent
from webhook.kube.objects import WATCH_EVENT as EVENT_DECODER

NAMESPACES = "/api/v1/namespaces"
PAGE_SIZE = 500
CONNECT_SECONDS = 5.0
WATCH_MARGIN_SECONDS = 30.0  # a watch silent this long past its timeoutSeconds is dead
T = TypeVar("T")


class TokenFile:
    """The bearer token in a file, read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[str, int, int, int] | None = None
        self._token = ""

    def _stamp(self) -> tuple[str, int, int, int]:
        stat = self.path.stat()  # follows the ..data symlink to the current file
        return (os.path.realpath(self.path), stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def current(self) -> str:
        """The token; raises KubeConfigError when the file cannot be read or is empty."""
        try:
            stamp = self._stamp()
            if stamp != self._seen:
                token = self.path.read_text(encoding="utf-8").strip()
                if not token:
                    raise KubeConfigError(f"{self.path}: the token file is empty")
                self._token, self._seen = token, stamp
        except OSError as error:
            raise KubeConfigError(f"{self.path}: cannot read the token: {error.strerror}") from None
        return self._token

    def reload(self) -> bool:
        """Read the file again; True when it holds another token than the one last used."""
        before = self._token
        self._seen = None
        try:
            return self.current() != before
        except KubeConfigError:
            return False


class BearerToken(httpx.Auth):
    """Sends the current token; after a 401, retries once if the token file changed."""

    def __init__(self, token: TokenFile) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token.current()}"
        response = yield request
        if response.status_code == 401 and self.token.reload():
            request.headers["Authorization"] = f"Bearer {self.token.current()}"
            yield request


def cluster_context(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts only the cluster CA; raises KubeConfigError."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as error:
        raise KubeConfigError(f"{ca_file}: cannot load the cluster CA: {error}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def check_credentials(*, token_file: Path, ca_file: Path) -> None:
    """Raises KubeConfigError when the token or the CA bundle cannot be read."""
    TokenFile(token_file).current()
    cluster_context(ca_file)


def api_error(response: httpx.Response) -> KubeApiError:
    """The error of a non-2xx answer, from its Status body when it has one."""
    code = response.status_code
    try:
        status = STATUS.decode(response.content)
        reason, message = status.reason or response.reason_phrase, status.message
    except msgspec.MsgspecError:
        reason, message = response.reason_phrase, response.text[:200]
    error_type = ExpiredError if code == 410 else KubeApiError
    return error_type(code, reason, message)


def _decode(decoder: msgspec.json.Decoder[T], content: bytes, what: str) -> T:
    try:
        return decoder.decode(content)
    except msgspec.MsgspecError as error:
        raise KubeApiError(0, f"malformed {what}", str(error)) from None


class KubeClient:
    """Namespaces from one API server; every call raises KubeApiError for an API error and
    httpx.HTTPError when the server cannot be reached or does not answer in time."""

    def __init__(self, *, base_url: str, token_file: Path, ca_file: Path) -> None:
        """Raises KubeConfigError when the CA or the token cannot be read."""
        token = TokenFile(token_file)
        token.current()
        self.http = httpx.AsyncClient(
            base_url=base_url,
            verify=cluster_context(ca_file),
            auth=BearerToken(token),
            headers={
                "Accept": "application/json",
                "User-Agent": f"policy-webhook/{__version__}",
            },
            trust_env=False,  # no proxy variables between the webhook and its API server
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get_namespace(self, name: str, *, timeout: float) -> Namespace | None:
        """The namespace, or None when it does not exist (404)."""
        response = await self.http.get(f"{NAMESPACES}/{name}", timeout=timeout)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise api_error(response)
        return _decode(NAMESPACE, response.content, "Namespace")

    async def list_namespaces(self, *, timeout: float) -> tuple[list[Namespace], str]:
        """Every namespace (page by page) and the list's resourceVersion to watch from.

        Raises ExpiredError when a continue token expired between pages (list again)."""
        namespaces: list[Namespace] = []
        params = {"limit": str(PAGE_SIZE)}
        while True:
            response = await self.http.get(NAMESPACES, params=params, timeout=timeout)
            if response.status_code != 200:
                raise api_error(response)
            page = _decode(NAMESPACE_LIST, response.content, "NamespaceList")
            namespaces.extend(page.items or ())
            if not page.metadata.continue_:
                return namespaces, page.metadata.resourceVersion
            params = {"limit": str(PAGE_SIZE), "continue": page.metadata.continue_}

    @contextlib.asynccontextmanager
    async def watch_namespaces(
        self, *, resource_version: str, timeout_seconds: int
    ) -> AsyncIterator[AsyncIterator[WatchEvent]]:
        """The events after `resource_version`, one per line, until the server ends the watch
        (after about `timeout_seconds`); raises ExpiredError when that version is too old."""
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        timeout = httpx.Timeout(CONNECT_SECONDS, read=timeout_seconds + WATCH_MARGIN_SECONDS)
        async with self.http.stream("GET", NAMESPACES, params=params, timeout=timeout) as response:
            if response.status_code != 200:
                await response.aread()
                raise api_error(response)
            yield _events(response)


async def _events(response: httpx.Response) -> AsyncIterator[WatchEvent]:
    async for line in response.aiter_lines():
        if line.strip():
            yield _decode(EVENT_DECODER, line.encode(), "watch event")
