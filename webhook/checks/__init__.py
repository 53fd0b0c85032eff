"""The built-in checks, one module per family, collected into one registry by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.checks import (
    drift,
    images,
    pod_security_baseline,
    pod_security_host,
    pod_security_restricted,
    resources,
    secrets,
    security,
    signatures,
)
from webhook.checks.base import CheckDefinition

_ALL: list[CheckDefinition[Any]] = [
    *security.DEFINITIONS,
    *resources.DEFINITIONS,
    *images.DEFINITIONS,
    *signatures.DEFINITIONS,
    *secrets.DEFINITIONS,
    *pod_security_host.DEFINITIONS,
    *pod_security_baseline.DEFINITIONS,
    *pod_security_restricted.DEFINITIONS,
    *drift.DEFINITIONS,
]

CHECKS: Mapping[str, CheckDefinition[Any]] = {definition.name: definition for definition in _ALL}
