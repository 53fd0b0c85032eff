"""The FastAPI app: /validate and /mutate, /healthz, /readyz, /metrics and the OpenAPI docs.

POST /validate and /mutate are answered by plain ASGI (`AdmissionEndpoints`) before FastAPI's
middleware, routing and request handling: raw body in, encoded bytes out (the FastAPI routes of
the same paths document them and give the same answers). Everything the app uses is passed to
`create_app`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

from webhook import __version__
from webhook.admission import Admission, Evaluate, Lookup, Mutate, Reply, error_body
from webhook.engine import evaluate as engine_evaluate
from webhook.logs import log_exceptions
from webhook.metrics import CONTENT_TYPE, Metrics
from webhook.mutation import apply_mutations
from webhook.namespaces import NamespaceLabels, NamespaceSource
from webhook.policy.compiled import PolicySet
from webhook.settings import Settings
from webhook.shedding import Shedder
from webhook.store import PolicyStore

JSON = "application/json"
REVIEW_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An AdmissionReview (admission.k8s.io/v1 or v1beta1) with a request.",
        "content": {JSON: {"schema": {"type": "object"}}},
    },
    "responses": {
        "200": {"description": "The AdmissionReview with its response, in the version asked."},
        "400": {"description": "The body is not a usable AdmissionReview."},
        "413": {"description": "The body is larger than the configured limit."},
    },
}


ENDPOINTS = {"/validate": "validate", "/mutate": "mutate"}


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
        body = await self._body(scope, receive)
        if body is False:
            return  # the client went away
        if body is None:
            reply = self.admission.reject(endpoint, self.too_large, 413)
        elif self.in_flight is not None and self.in_flight() > self.shedder.limit:
            reply = self.shedder.answer(endpoint, body)
        elif endpoint == "validate":
            reply = await self.admission.validate(body)
        else:
            reply = await self.admission.mutate_review(body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(reply.body)),
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _body(self, scope: Scope, receive: Receive) -> bytes | Literal[False] | None:
        """The body; None when longer than the limit; False when the client disconnected."""
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                return None
        chunks: list[bytes] = []
        size = 0
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


class WebhookApp(FastAPI):
    """FastAPI, with POST /validate and /mutate answered by `admission_endpoints` (when set)
    ahead of FastAPI's middleware and routing."""

    admission_endpoints: AdmissionEndpoints | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoints = self.admission_endpoints
        if endpoints is not None and scope["type"] == "http" and scope["method"] == "POST":
            endpoint = ENDPOINTS.get(scope["path"])
            if endpoint is not None:
                await endpoints.answer(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be longer than `limit`."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _response(reply: Reply) -> Response:
    return Response(content=reply.body, status_code=reply.status, media_type=JSON)


def create_app(
    *,
    settings: Settings,
    policies: PolicySet | PolicyStore,
    metrics: Metrics | None = None,
    namespaces: NamespaceSource | None = None,
    evaluate: Evaluate = engine_evaluate,
    mutate: Mutate = apply_mutations,
    lookup: Lookup | None = None,
    ready: Callable[[], bool] | None = None,
    fast_path: bool = True,
    in_flight: Callable[[], int] | None = None,
) -> FastAPI:
    """The webhook app. `policies` may be a store that a reloader updates; `ready` tells
    whether the serving certificate is loaded (None: not served over TLS by this process);
    `namespaces` gives namespace labels (default: those of the Namespaces admitted).
    `fast_path=False` leaves /validate and /mutate to FastAPI's routing (same answers, slower).
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
    )
    metrics.policies_loaded.set(len(store.current.policies))
    metrics.watch_exceptions(lambda: store.current)
    log_exceptions(store.current, datetime.now(UTC).date())
    metrics.policy_set_timestamp.set(store.loaded_at)
    limit = settings.max_body_bytes
    too_large = f"the body is larger than {limit} bytes"
    app = WebhookApp(
        title="policy-webhook",
        version=__version__,
        description="Policy-as-code admission webhook for Kubernetes.",
    )
    app.state.admission = admission
    if fast_path:
        app.admission_endpoints = AdmissionEndpoints(
            admission=admission,
            limit=limit,
            shedder=Shedder(settings=settings, metrics=metrics),
            in_flight=in_flight,
        )

    @app.post("/validate", response_class=Response, openapi_extra=REVIEW_SCHEMA)
    async def validate(request: Request) -> Response:
        """Validate an AdmissionReview: deny on enforce-mode failures, warn, audit."""
        body = await read_body(request, limit)
        if body is None:
            return _response(admission.reject("validate", too_large, 413))
        return _response(await admission.validate(body))

    @app.post("/mutate", response_class=Response, openapi_extra=REVIEW_SCHEMA)
    async def mutate_(request: Request) -> Response:
        """Mutate an AdmissionReview: set the matching policies' defaults (JSON Patch)."""
        body = await read_body(request, limit)
        if body is None:
            return _response(admission.reject("mutate", too_large, 413))
        return _response(await admission.mutate_review(body))

    @app.get("/healthz", response_class=Response)
    async def healthz() -> Response:
        """Alive: the process answers."""
        return Response(content=b'{"status":"ok"}', media_type=JSON)

    @app.get("/readyz", response_class=Response)
    async def readyz() -> Response:
        """Ready: policies and the serving certificate are loaded, and namespace labels known."""
        if ready is not None and not ready():
            return Response(
                content=error_body("not ready: no serving certificate, or shutting down"),
                status_code=503,
            )
        waiting = namespaces.pending()
        if waiting is not None:
            return Response(content=error_body(f"not ready: {waiting}"), status_code=503)
        text = f'{{"status":"ready","policies":{len(store.current.policies)}}}'
        return Response(content=text.encode(), media_type=JSON)

    @app.get("/metrics", response_class=Response)
    async def metrics_() -> Response:
        """Prometheus metrics."""
        return Response(content=metrics.render(), media_type=CONTENT_TYPE)

    return app
