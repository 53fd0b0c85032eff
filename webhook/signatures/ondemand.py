"""A Verifier that builds the registry verifier on its first request.

`check`, `diff` and `serve` need the HTTP client and the Sigstore stack only when a policy asks
for image signatures; importing them costs more than a small run's whole evaluation, and about
20 MiB of every server process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from webhook.signatures.api import SignatureRequest, SignatureResult

if TYPE_CHECKING:
    from webhook.signatures.verifier import RegistryVerifier


def import_registry_verifier() -> None:
    """Import the registry verifier's modules ahead of its first request (the server does so
    when it loads a policy set that looks images up)."""
    import webhook.signatures.verifier  # noqa: F401


class OnDemandRegistryVerifier:
    """Implements the Verifier protocol; the RegistryVerifier behind it is imported and built
    when `verify` is first called, and the time that takes counts against its `timeout`."""

    def __init__(self, *, request_timeout: float) -> None:
        self.request_timeout = request_timeout  # one HTTP call
        self._verifier: RegistryVerifier | None = None

    def _built(self) -> RegistryVerifier:
        if self._verifier is None:
            from webhook.signatures.verifier import RegistryVerifier, VerifierSettings

            settings = VerifierSettings(request_timeout=self.request_timeout)
            self._verifier = RegistryVerifier(settings=settings)
        return self._verifier

    async def verify(
        self, requests: Sequence[SignatureRequest], *, timeout: float
    ) -> dict[SignatureRequest, SignatureResult]:
        started = time.monotonic()
        verifier = self._built()
        left = max(timeout - (time.monotonic() - started), 0.0)
        return await verifier.verify(requests, timeout=left)

    async def aclose(self) -> None:
        if self._verifier is not None:
            await self._verifier.aclose()
