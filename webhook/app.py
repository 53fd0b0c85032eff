"""The webhook's ASGI app: /validate and /mutate, /healthz, /readyz, /metrics and the OpenAPI docs.

POST /validate and /mutate (raw body in, encoded bytes out) and GET /healthz, /readyz and
/metrics are answered by plain ASGI. Everything else (the OpenAPI docs, other methods and paths)
goes to the FastAPI app of webhook.routes, which documents the same endpoints with the same
answers; it is built, and FastAPI imported, on the first request it gets, so a worker that serves
only the API server, the kubelet's probes and Prometheus never loads it (7 MiB). Everything the
app uses is passed to `create_app`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from webhook.admission import Admission, Evaluate, Lookup, Mutate, Reply
from webhook.engine import evaluate as engine_evaluate
from webhook.logs import log_exceptions
from webhook.metrics import Metrics
from webhook.mutation import apply_mutations
from webhook.namespaces import NamespaceLabels, NamespaceSource
from webhook.policy.compiled import PolicySet
from webhook.probes import Plain, Probes
from webhook.settings import Settings
from webhook.shedding import Shedder
from webhook.store import PolicyStore

ENDPOINTS = {"/validate": "validate", "/mutate": "mutate"}
_CONTENT_TYPE = (b"content-type", b"application/json")


class AdmissionEndpoints:
    """Plain ASGI: POST /validate and /mutate straight to `Admission`."""

    def __init__(
        self,
        *,
        admission: Admission,
        limit: int,
        shedder: Shedder,
        in_flight: Callable[[], int] | None,
    ) -> None:
        self.admission = admission
        self.limit = limit
        self.too_large = f"the body is larger than {limit} bytes"
        self.shedder = shedder
        self.in_flight = in_flight

    async def answer(self, endpoint: str, scope: Scope, receive: Receive, send: Send) -> None:
        # The body read here rather than by a coroutine of its own: most come in one message.
        limit = self.limit
        body: bytes | None = None  # None: longer than the limit
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                break
        else:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away
            body = message.get("body", b"")
            if len(body) > limit:
                body = None
            elif message.get("more_body", False):
                rest = await self._rest(body, receive)
                if rest is False:
                    return
                body = rest
        if body is None:
            reply = self.admission.reject(endpoint, self.too_large, 413)
        elif self.in_flight is not None and self.in_flight() > self.shedder.limit:
            reply = self.shedder.answer(endpoint, body)
        else:
            answered = self.admission.respond(body, endpoint)
            reply = answered if isinstance(answered, Reply) else await answered
        headers = [_CONTENT_TYPE, (b"content-length", b"%d" % len(reply.body))]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _rest(self, first: bytes, receive: Receive) -> bytes | Literal[False] | None:
        """The body after its `first` chunk; None when longer than the limit; False when the
        client disconnected."""
        chunks = [first]
        size = len(first)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class WebhookApp:
    """Plain ASGI in front: POST /validate and /mutate to `endpoints`, GET probes to `probes`
    (when set); every other request to the FastAPI app that `routes()` builds on first use."""

    def __init__(
        self,
        *,
        admission: Admission,
        endpoints: AdmissionEndpoints | None,
        probes: Probes | None,
        routes: Callable[[], ASGIApp],
    ) -> None:
        self.admission = admission
        self.endpoints = endpoints
        self.probes = probes
        self._build_routes = routes
        self._routes: ASGIApp | None = None

    def routed(self) -> ASGIApp:
        """The FastAPI app (built now if it was not yet)."""
        if self._routes is None:
            self._routes = self._build_routes()
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "POST" and self.endpoints is not None:
                endpoint = ENDPOINTS.get(scope["path"])
                if endpoint is not None:
                    await self.endpoints.answer(endpoint, scope, receive, send)
                    return
            elif method == "GET" and self.probes is not None:
                answer = self.probes.answer(scope["path"])
                if answer is not None:
                    await _send(answer, send)
                    return
        await self.routed()(scope, receive, send)


async def _send(answer: Plain, send: Send) -> None:
    start = {"type": "http.response.start", "status": answer.status, "headers": answer.headers()}
    await send(start)
    await send({"type": "http.response.body", "body": answer.body})


def create_app(
    *,
    settings: Settings,
    policies: PolicySet | PolicyStore,
    metrics: Metrics | None = None,
    namespaces: NamespaceSource | None = None,
    evaluate: Evaluate = engine_evaluate,
    mutate: Mutate = apply_mutations,
    lookup: Lookup | None = None,
    preloads: Callable[[], Mapping[Any, Any]] | None = None,
    ready: Callable[[], bool] | None = None,
    fast_path: bool = True,
    in_flight: Callable[[], int] | None = None,
) -> WebhookApp:
    """The webhook app. `policies` may be a store that a reloader updates; `ready` tells
    whether the serving certificate is loaded (None: not served over TLS by this process);
    `namespaces` gives namespace labels (default: those of the Namespaces admitted);
    `preloads()` the data loaded ahead of requests that drift rules read.
    `fast_path=False` leaves every request to FastAPI's routing (same answers, slower).
    `in_flight()` counts the requests the serving worker holds; past `settings.max_in_flight`
    /validate and /mutate are shed (answered without evaluation)."""
    store = policies if isinstance(policies, PolicyStore) else PolicyStore(policies, time.time())
    metrics = metrics if metrics is not None else Metrics()
    namespaces = namespaces if namespaces is not None else NamespaceLabels()
    admission = Admission(
        settings=settings,
        policies=store,
        metrics=metrics,
        namespaces=namespaces,
        evaluate=evaluate,
        mutate=mutate,
        lookup=lookup,
        preloads=preloads,
    )
    metrics.policies_loaded.set(len(store.current.policies))
    metrics.watch_exceptions(lambda: store.current)
    log_exceptions(store.current, datetime.now(UTC).date())
    metrics.policy_set_timestamp.set(store.loaded_at)
    probes = Probes(store=store, metrics=metrics, namespaces=namespaces, ready=ready)
    limit = settings.max_body_bytes

    def routes() -> ASGIApp:
        from webhook.routes import routes_app  # FastAPI: the docs, and what the front leaves

        return routes_app(admission=admission, probes=probes, limit=limit)

    app = WebhookApp(
        admission=admission,
        endpoints=AdmissionEndpoints(
            admission=admission,
            limit=limit,
            shedder=Shedder(settings=settings, metrics=metrics),
            in_flight=in_flight,
        )
        if fast_path
        else None,
        probes=probes if fast_path else None,
        routes=routes,
    )
    if not fast_path:
        app.routed()  # every request goes there
    return app
