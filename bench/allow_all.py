"""The floor of the server benchmark: an allow-all webhook on the same server stack.

A plain ASGI app that reads the body, decodes only what an answer needs (apiVersion and the
request's uid) and admits everything; served by `webhook.server` exactly as `serve` serves the
webhook (uvicorn, httptools, uvloop, the same TLS context, keep-alive and workers). No policy
webhook can answer faster on this stack.

    python -m bench.allow_all --tls-cert tls.crt --tls-key tls.key --port 9443 [--workers 2]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import msgspec
from starlette.types import Receive, Scope, Send

from webhook import settings as webhook_settings
from webhook import tls
from webhook.server import Worker, serve_app


class _Request(msgspec.Struct):
    uid: str


class _Review(msgspec.Struct):
    apiVersion: str
    request: _Request


_decoder = msgspec.json.Decoder(_Review)
_HEADERS = [(b"content-type", b"application/json")]


async def allow_all(scope: Scope, receive: Receive, send: Send) -> None:
    """Admit every AdmissionReview; 404 for anything else."""
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    if scope["path"] == "/readyz":
        body, status = b'{"status":"ready"}', 200
    else:
        try:
            review = _decoder.decode(b"".join(chunks))
        except msgspec.MsgspecError:
            body, status = b'{"detail":"not an AdmissionReview"}', 400
        else:
            body, status = _answer(review), 200
    headers = [*_HEADERS, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _answer(review: _Review) -> bytes:
    return b'{"apiVersion":%s,"kind":"AdmissionReview","response":{"uid":%s,"allowed":true}}' % (
        msgspec.json.encode(review.apiVersion),
        msgspec.json.encode(review.request.uid),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    webhook_settings.add_arguments(parser)
    arguments = parser.parse_args(argv)
    chosen = webhook_settings.from_arguments(arguments, os.environ)
    if chosen.tls_cert is None or chosen.tls_key is None:
        parser.error("--tls-cert and --tls-key are required")
    cert, key = chosen.tls_cert, chosen.tls_key
    context = tls.server_context(cert, key)
    return serve_app(chosen, lambda in_flight: Worker(app=allow_all, context=lambda: context))


if __name__ == "__main__":
    raise SystemExit(main())
