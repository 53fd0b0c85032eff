"""Registry failures, each mapped to the outcome a finding reports.

PolicyWebhookError
└── RegistryError            a registry did not give what was asked
    ├── RegistryUnreachable  connection refused, DNS, TLS or a 5xx answer
    ├── RegistryTimeout      no answer within the deadline
    ├── RegistryRateLimited  HTTP 429
    ├── RegistryDenied       HTTP 401/403 after the auth flow
    └── NotFound             HTTP 404 (no such manifest, tag or blob)
"""

from __future__ import annotations

from webhook.errors import PolicyWebhookError
from webhook.signatures.api import Outcome


class RegistryError(PolicyWebhookError):
    """A registry request failed; `outcome` is how a verification reports it."""

    outcome = Outcome.UNREACHABLE

    def __init__(self, registry: str, reason: str) -> None:
        self.registry = registry
        self.reason = reason
        super().__init__(f"registry {registry}: {reason}")


class RegistryUnreachable(RegistryError):
    outcome = Outcome.UNREACHABLE


class RegistryTimeout(RegistryError):
    outcome = Outcome.TIMED_OUT


class RegistryRateLimited(RegistryError):
    outcome = Outcome.RATE_LIMITED


class RegistryDenied(RegistryError):
    outcome = Outcome.DENIED


class NotFound(RegistryError):
    outcome = Outcome.IMAGE_NOT_FOUND
