"""The built-in checks, one module per family, collected into one registry by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.checks import images, resources, secrets, security
from webhook.checks.base import CheckDefinition

_ALL: list[CheckDefinition[Any]] = [
    *security.DEFINITIONS,
    *resources.DEFINITIONS,
    *images.DEFINITIONS,
    *secrets.DEFINITIONS,
]

CHECKS: Mapping[str, CheckDefinition[Any]] = {definition.name: definition for definition in _ALL}
