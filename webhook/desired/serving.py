"""The desired state in the server: stores kept in step with the policies served and with their
directories; `lookups()` is what the webhook hands the engine (create_app's `preloads`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from webhook.desired.snapshot import DesiredSnapshot
from webhook.desired.store import DesiredStates, ReloadResult
from webhook.metrics import Metrics
from webhook.store import PolicyStore

LOG = logging.getLogger("policy_webhook.desired_state")


class DesiredStateReloader:
    """Owns the desired-state stores of the policies being served and reloads them.

    `check` follows a policy reload (stores for new paths, old ones kept) and reloads every
    directory whose content changed; a request reads `lookups()` once.
    """

    def __init__(self, *, policies: PolicyStore, metrics: Metrics) -> None:
        self.policies = policies
        self.metrics = metrics
        self.states = DesiredStates()
        self._generation: int | None = None

    def lookups(self) -> dict[Any, Any]:
        return self.states.lookups()  # a new dict each time

    def load(self) -> list[ReloadResult]:
        """Follow the policies and reload what changed, in the calling thread."""
        if self._generation != self.policies.generation:
            self._generation = self.policies.generation
            before = set(self.states.stores)
            self.states = DesiredStates.for_policies(self.policies.current, previous=self.states)
            for key in before - set(self.states.stores):
                with contextlib.suppress(KeyError):  # never loaded, never exported
                    self.metrics.desired_state_objects.remove(key.path)
        results = self.states.refresh()
        for result in results:
            self._record(result)
        return results

    async def check(self) -> list[ReloadResult]:
        return await asyncio.to_thread(self.load)

    def _record(self, result: ReloadResult) -> None:
        self.metrics.desired_state_reloads.labels("success" if result.ok else "failure").inc()
        state = self.states.stores[result.key].state
        objects = len(state.objects) if isinstance(state, DesiredSnapshot) else -1
        self.metrics.desired_state_objects.labels(result.key.path).set(objects)
        fields = {"path": result.key.path, "result": result.message}
        if result.ok:
            LOG.info("desired state loaded", extra={"fields": fields})
        else:
            LOG.error("desired state not loaded", extra={"fields": fields})
