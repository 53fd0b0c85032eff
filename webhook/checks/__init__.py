"""The built-in checks, one module per family, collected into one registry by name.

Families with heavy imports of their own (image signatures; Git ownership and desired state,
with their GitOps and snapshot models) are imported when a policy first names one of their
checks, so a run whose policies use none does not pay for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from webhook.checks import (
    images,
    pod_security_baseline,
    pod_security_host,
    pod_security_restricted,
    resources,
    secrets,
    security,
)
from webhook.checks.base import CheckDefinition

_EAGER: list[CheckDefinition[Any]] = [
    *security.DEFINITIONS,
    *resources.DEFINITIONS,
    *images.DEFINITIONS,
    *secrets.DEFINITIONS,
    *pod_security_host.DEFINITIONS,
    *pod_security_baseline.DEFINITIONS,
    *pod_security_restricted.DEFINITIONS,
]

# check name -> the module whose DEFINITIONS hold it, imported on first use
DEFERRED: Mapping[str, str] = {
    "imageSignatures": "webhook.checks.signatures",
    "gitOwnership": "webhook.checks.drift",
    "desiredState": "webhook.checks.drift",
}


class CheckRegistry(Mapping[str, CheckDefinition[Any]]):
    """Every built-in check by name; a deferred family's module is imported on lookup."""

    def __init__(self, eager: list[CheckDefinition[Any]], deferred: Mapping[str, str]) -> None:
        self._loaded = {definition.name: definition for definition in eager}
        self._deferred = dict(deferred)
        self._names = [*self._loaded, *(name for name in deferred if name not in self._loaded)]

    def __getitem__(self, name: str) -> CheckDefinition[Any]:
        definition = self._loaded.get(name)
        if definition is None:
            module = importlib.import_module(self._deferred[name])  # KeyError: no such check
            for found in module.DEFINITIONS:
                self._loaded[found.name] = found
            definition = self._loaded[name]
        return definition

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


CHECKS: Mapping[str, CheckDefinition[Any]] = CheckRegistry(_EAGER, DEFERRED)
