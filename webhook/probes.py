"""The answers of GET /healthz, /readyz and /metrics, whichever layer of the app serves them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from webhook.admission import error_body
from webhook.metrics import CONTENT_TYPE, Metrics
from webhook.namespaces import NamespaceSource
from webhook.store import PolicyStore

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Plain:
    """An answer: status, body and media type (None: no content-type header)."""

    status: int
    body: bytes
    media_type: str | None = JSON

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The headers Starlette's `Response` gives the same answer."""
        headers = [(b"content-length", b"%d" % len(self.body))]
        media_type = self.media_type
        if media_type is not None:
            if media_type.startswith("text/") and "charset=" not in media_type.lower():
                media_type += "; charset=utf-8"
            headers.append((b"content-type", media_type.encode("latin-1")))
        return headers


HEALTHY = Plain(200, b'{"status":"ok"}')


class Probes:
    """Liveness, readiness and the metrics of one app."""

    def __init__(
        self,
        *,
        store: PolicyStore,
        metrics: Metrics,
        namespaces: NamespaceSource,
        ready: Callable[[], bool] | None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.namespaces = namespaces
        self.ready = ready

    def healthz(self) -> Plain:
        return HEALTHY

    def readyz(self) -> Plain:
        if self.ready is not None and not self.ready():
            reason = "not ready: no serving certificate, or shutting down"
            return Plain(503, error_body(reason), None)
        waiting = self.namespaces.pending()
        if waiting is not None:
            return Plain(503, error_body(f"not ready: {waiting}"), None)
        text = f'{{"status":"ready","policies":{len(self.store.current.policies)}}}'
        return Plain(200, text.encode())

    def render_metrics(self) -> Plain:
        return Plain(200, self.metrics.render(), CONTENT_TYPE)

    def answer(self, path: str) -> Plain | None:
        """The answer to GET `path`, or None when it is no probe."""
        if path == "/healthz":
            return self.healthz()
        if path == "/readyz":
            return self.readyz()
        if path == "/metrics":
            return self.render_metrics()
        return None
