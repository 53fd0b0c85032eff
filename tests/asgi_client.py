"""Requests to an ASGI app in the test's process, as the API server sends them (no socket)."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import ASGIApp


def call(app: ASGIApp, path: str, body: bytes = b"", *, method: str = "POST") -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            return await client.request(method, path, content=body)

    return asyncio.run(send())
