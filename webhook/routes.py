"""The FastAPI app behind the plain ASGI front of webhook.app: the OpenAPI docs of every endpoint,
and the answer to every request the front does not take itself (other methods and paths).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response

from webhook import __version__
from webhook.admission import Admission, Reply
from webhook.probes import JSON, Plain, Probes

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


def _plain(answer: Plain) -> Response:
    return Response(content=answer.body, status_code=answer.status, media_type=answer.media_type)


def routes_app(*, admission: Admission, probes: Probes, limit: int) -> FastAPI:
    """Every endpoint of the webhook as FastAPI routes (same answers as the plain ASGI front)."""
    too_large = f"the body is larger than {limit} bytes"
    app = FastAPI(
        title="policy-webhook",
        version=__version__,
        description="Policy-as-code admission webhook for Kubernetes.",
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
        return _plain(probes.healthz())

    @app.get("/readyz", response_class=Response)
    async def readyz() -> Response:
        """Ready: policies and the serving certificate are loaded, and namespace labels known."""
        return _plain(probes.readyz())

    @app.get("/metrics", response_class=Response)
    async def metrics_() -> Response:
        """Prometheus metrics."""
        return _plain(probes.render_metrics())

    return app
