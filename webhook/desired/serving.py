"""The desired state in the server: stores kept in step with the policies served and with their
directories, and the evaluation step that hands the current snapshots to the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from webhook.admission import Evaluate
from webhook.desired.snapshot import DesiredSnapshot
from webhook.desired.store import DesiredStates, ReloadResult
from webhook.findings import Finding
from webhook.metrics import Metrics
from webhook.policy.compiled import PolicySet
from webhook.review import AdmissionRequest
from webhook.store import PolicyStore

LOG = logging.getLogger("policy_webhook.desired_state")


def with_preloads(evaluate: Evaluate, preloads: Callable[[], Mapping[Any, Any]]) -> Evaluate:
    """`evaluate` with the data loaded ahead (`preloads()`) added to each request's lookups."""

    def evaluate_with_preloads(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
        lookups: Mapping[Any, Any] | None = None,
        today: date | None = None,
    ) -> list[Finding]:
        preloaded = preloads()
        if preloaded:  # none loaded: the request's own lookups as they are
            lookups = {**preloaded, **lookups} if lookups else preloaded
        return evaluate(
            request, policies, namespace_labels=namespace_labels, lookups=lookups, today=today
        )

    return evaluate_with_preloads


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
