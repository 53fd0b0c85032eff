"""The webhook's lookup step: the engine's `gather_lookups` bound to a verifier and a deadline.

The deadline sits below the webhook's own budget for lookups, so a registry that does not
answer ends as a "timed out" finding (fail closed, with the reason) and never as a hang.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from webhook.engine import LOOKUP_GRACE, gather_lookups
from webhook.metrics import Metrics
from webhook.policy.compiled import CompiledPolicy, PolicySet
from webhook.review import AdmissionRequest
from webhook.signatures.api import SignatureResult, Verifier

MARGIN = 0.25  # seconds kept for evaluation and the answer after the lookups


def looks_up_images(policies: PolicySet) -> bool:
    """Whether a rule of `policies` asks a verifier about images."""
    return _any_looks_up(policies.policies)


def _any_looks_up(policies: Iterable[CompiledPolicy]) -> bool:
    return any(rule.check.lookups is not None for policy in policies for rule in policy.rules)


def lookup_deadline(budget: float) -> float:
    """Seconds the verifier gets out of a `budget` for all lookups of one request."""
    return max(budget - MARGIN - LOOKUP_GRACE, budget / 2)


class SignatureLookup:
    """Admission's `lookup`: verify the images the matching rules name."""

    def __init__(
        self, *, verifier: Verifier, budget: float, metrics: Metrics | None = None
    ) -> None:
        self.verifier = verifier
        self.timeout = lookup_deadline(budget)
        self.metrics = metrics
        self._policies: PolicySet | None = None  # the last set asked about
        self._any = False  # whether a rule of that set looks images up

    def wanted(self, request: AdmissionRequest, policies: PolicySet) -> bool:
        """Whether a policy that may match the request has a rule that looks images up (cheap:
        no matching done, and nothing at all for a set without such rules)."""
        if policies is not self._policies:
            self._any = looks_up_images(policies)
            self._policies = policies
        return self._any and _any_looks_up(
            policies.candidates(request.kind.kind, request.operation)
        )

    async def __call__(
        self,
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> Mapping[Any, Any]:
        if not self.wanted(request, policies):
            return {}
        started = time.perf_counter()
        answers = await gather_lookups(
            request,
            policies,
            verifier=self.verifier,
            timeout=self.timeout,
            namespace_labels=namespace_labels,
        )
        if self.metrics is not None and answers:
            self.metrics.signature_lookup_seconds.observe(time.perf_counter() - started)
            for result in answers.values():
                if isinstance(result, SignatureResult):
                    self.metrics.signature_results.labels(result.outcome.value).inc()
        return answers
