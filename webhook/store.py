"""The policy set being served: replaced whole by a reload, read once per request."""

from __future__ import annotations

import time
from dataclasses import dataclass

from webhook.policy.compiled import PolicySet


@dataclass(slots=True)
class PolicyStore:
    """Holds the current PolicySet; a request reads `current` once and keeps that set."""

    current: PolicySet
    loaded_at: float = 0.0
    generation: int = 1

    def replace(self, policies: PolicySet) -> None:
        self.current = policies
        self.loaded_at = time.time()
        self.generation += 1
