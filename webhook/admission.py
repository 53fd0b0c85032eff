"""The admission flow of /validate and /mutate: decode -> evaluate -> decide -> encode.

Collaborators (evaluation, lookups done before it, mutation) are passed in, so other steps
plug in without touching the flow. Internal errors are caught in one place (`answer`) and
answered by the configured failure mode; a malformed review is the caller's error (HTTP 400).
The object comes without its managedFields when no check of the policy set can read them, so
collaborators read the object as the set's checks do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import date
from typing import Any, Protocol, runtime_checkable

import msgspec

from webhook.decision import Decision, decide
from webhook.errors import ReviewError
from webhook.findings import Finding
from webhook.logs import log_decision
from webhook.metrics import Metrics
from webhook.mutation import mutable
from webhook.namespaces import NamespaceSource, is_namespace
from webhook.patches import build_patch
from webhook.pinning import apply_pins, digest_pins, wants_pins
from webhook.policy.compiled import PolicySet
from webhook.projection import review_decoder
from webhook.review import (
    AdmissionRequest,
    AdmissionReview,
    decode_review,
    encode_admitted,
    encode_response,
)
from webhook.settings import FailureMode, Settings
from webhook.store import PolicyStore
from webhook.today import UtcToday

JSONObject = dict[str, Any]
LOG = logging.getLogger("policy_webhook.admission")
MAX_REASON = 300
NO_LABELS: Mapping[str, str] = {}
_encoder = msgspec.json.Encoder()


class Evaluate(Protocol):
    def __call__(
        self,
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
        lookups: Mapping[Any, Any] | None = None,
        today: date | None = None,
    ) -> list[Finding]: ...


class Mutate(Protocol):
    def __call__(
        self,
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> tuple[JSONObject | None, list[str]]: ...


class Lookup(Protocol):
    """I/O before evaluation (signature lookups); its result becomes the engine's `lookups`."""

    async def __call__(
        self,
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> Mapping[Any, Any]: ...


@runtime_checkable
class SelectiveLookup(Lookup, Protocol):
    """A lookup that tells, without I/O, whether a request needs it at all (a request that does
    not skips the call and its deadline)."""

    def wanted(self, request: AdmissionRequest, policies: PolicySet) -> bool: ...


def _always(request: AdmissionRequest, policies: PolicySet) -> bool:
    return True


# Frozen msgspec Structs rather than frozen dataclasses: built once or twice per request, and
# a frozen dataclass pays an object.__setattr__ per field.
class Reply(msgspec.Struct, frozen=True):
    status: int
    body: bytes


class Outcome(msgspec.Struct, frozen=True):
    body: bytes
    verdict: str  # allowed | denied | excluded | error
    decision: Decision | None = None
    patched: tuple[str, ...] = ()


def error_body(reason: str) -> bytes:
    return _encoder.encode({"detail": reason})


class Admission:
    """Answers AdmissionReview bodies; one instance per app."""

    def __init__(
        self,
        *,
        settings: Settings,
        policies: PolicyStore,
        metrics: Metrics,
        namespaces: NamespaceSource,
        evaluate: Evaluate,
        mutate: Mutate,
        lookup: Lookup | None = None,
        preloads: Callable[[], Mapping[Any, Any]] | None = None,
    ) -> None:
        """`preloads()`: the data loaded ahead of requests (the desired state of drift rules),
        added to the lookups of policy sets whose checks read it."""
        self.settings = settings
        self.policies = policies
        self.metrics = metrics
        self.namespaces = namespaces
        self.evaluate = evaluate
        self.mutate = mutate
        self.lookup = lookup
        self.preloads = preloads
        self._lookup_wanted = lookup.wanted if isinstance(lookup, SelectiveLookup) else _always
        self._own_user = settings.own_user
        self._today = UtcToday()  # PolicyExceptions apply through their expiry date, in UTC
        # The projected decoder of the last policy set seen (one pair: swapped at once).
        self._decoding: tuple[PolicySet | None, msgspec.json.Decoder[AdmissionReview] | None] = (
            None,
            None,
        )

    async def validate(self, body: bytes) -> Reply:
        return await self.answer(body, "validate")

    async def mutate_review(self, body: bytes) -> Reply:
        return await self.answer(body, "mutate")

    async def answer(self, body: bytes, endpoint: str) -> Reply:
        """The answer of `endpoint` ("validate" or "mutate") to an AdmissionReview body."""
        reply = self.respond(body, endpoint)
        return reply if isinstance(reply, Reply) else await reply

    def reject(self, endpoint: str, reason: str, status: int) -> Reply:
        """A request that is not a usable AdmissionReview (400) or too large (413)."""
        label = "too_large" if status == 413 else "malformed"
        self.metrics.bad_requests.labels(endpoint, label).inc()
        LOG.info("rejected request", extra={"fields": {"endpoint": endpoint, "reason": reason}})
        return Reply(status, error_body(reason))

    def respond(self, body: bytes, endpoint: str) -> Reply | Coroutine[Any, Any, Reply]:
        """`answer`: the Reply when it is done without awaiting anything (most validations:
        no namespace labels, no lookups), else the coroutine that finishes it."""
        started = time.perf_counter()
        # One policy set from decoding to the answer: it tells whether the decode may skip
        # the object's managedFields (no rule of it reads them).
        policies = self.policies.current
        projected = None
        if endpoint == "validate":
            known, projected = self._decoding
            if known is not policies:
                projected = self._decoder(policies)
        try:
            review = decode_review(
                body, managed_fields=policies.reads_managed_fields, projected=projected
            )
        except ReviewError as error:
            return self.reject(endpoint, str(error), 400)
        request = review.request
        if self._excluded(request):
            outcome = Outcome(encode_admitted(review.apiVersion, request.uid), "excluded")
        elif endpoint == "mutate":
            return self._finish(review, endpoint, started, self._mutate(review, policies))
        else:
            # The one catch-all (here and in `_finish`): an internal error is answered by the
            # configured failure mode.
            try:
                reads_labels = self._reads_labels(request, policies)
                looks_up = self.lookup is not None and self._lookup_wanted(request, policies)
                if reads_labels or looks_up:
                    awaiting = self._validate(review, policies, reads_labels, looks_up)
                    return self._finish(review, endpoint, started, awaiting)
                outcome = self._validated(review, policies, NO_LABELS, None)
            except Exception as error:
                outcome = self._internal_error(review, endpoint, error)
        return self._reply(request, endpoint, outcome, started)

    async def _finish(
        self,
        review: AdmissionReview,
        endpoint: str,
        started: float,
        awaiting: Coroutine[Any, Any, Outcome],
    ) -> Reply:
        """The answer of a request whose outcome awaits namespace labels or lookups."""
        try:
            outcome = await awaiting
        except Exception as error:
            outcome = self._internal_error(review, endpoint, error)
        return self._reply(review.request, endpoint, outcome, started)

    def _decoder(self, policies: PolicySet) -> msgspec.json.Decoder[AdmissionReview] | None:
        """The decoder of only what the policy set reads, for /validate (/mutate patches the
        whole object); worked out once per policy set."""
        known, decoder = self._decoding
        if known is policies:
            return decoder
        decoder = None if policies.pod_reads is None else review_decoder(policies.pod_reads)
        self._decoding = (policies, decoder)
        return decoder

    def _excluded(self, request: AdmissionRequest) -> bool:
        """Requests admitted before any evaluation: excluded namespaces and the webhook itself."""
        excluded = self.settings.excluded
        if request.namespace in excluded or request.userInfo.username == self._own_user:
            return True
        kind = request.kind
        return kind.kind == "Namespace" and kind.group == "" and request.name in excluded

    def _internal_error(self, review: AdmissionReview, endpoint: str, error: Exception) -> Outcome:
        """The answer to a request whose evaluation raised, by the configured failure mode."""
        request = review.request
        LOG.exception(
            "internal error while evaluating",
            extra={"fields": {"uid": request.uid, "endpoint": endpoint}},
        )
        self.metrics.internal_errors.labels(endpoint).inc()
        reason = f"{type(error).__name__}: {error}"[:MAX_REASON]
        text = f"policy-webhook could not evaluate the request ({reason})"
        if self.settings.failure_mode is FailureMode.ALLOW:
            body = encode_response(
                api_version=review.apiVersion,
                uid=request.uid,
                allowed=True,
                warnings=[f"{text}; admitted because the failure mode is allow"],
            )
        else:
            body = encode_response(
                api_version=review.apiVersion,
                uid=request.uid,
                allowed=False,
                code=500,
                message=f"{text}; denied because the failure mode is deny",
            )
        return Outcome(body, "error")

    @staticmethod
    def _reads_labels(request: AdmissionRequest, policies: PolicySet) -> bool:
        """Whether the labels of the request's namespace are looked up: only when a policy
        that may match the request reads them (a Namespace request carries its own)."""
        return (
            request.namespace != ""
            and policies.needs_namespace_labels(request.kind.kind, request.operation)
            and not is_namespace(request)
        )

    async def _validate(
        self, review: AdmissionReview, policies: PolicySet, reads_labels: bool, looks_up: bool
    ) -> Outcome:
        """Validate after awaiting the namespace's labels (`reads_labels`) and the lookups
        (`looks_up`) the request needs."""
        request = review.request
        labels = await self.namespaces.labels(request.namespace) if reads_labels else NO_LABELS
        lookups: Mapping[Any, Any] | None = None
        if looks_up and self.lookup is not None:
            async with asyncio.timeout(self.settings.timeout_seconds):
                lookups = await self.lookup(request, policies, namespace_labels=labels)
        return self._validated(review, policies, labels, lookups)

    def _validated(
        self,
        review: AdmissionReview,
        policies: PolicySet,
        labels: Mapping[str, str],
        lookups: Mapping[Any, Any] | None,
    ) -> Outcome:
        """Evaluate and decide, with the labels and lookups awaited before (if any)."""
        request = review.request
        if policies.preloads and self.preloads is not None:
            preloaded = self.preloads()
            if preloaded:  # none loaded: the request's own lookups as they are
                lookups = {**preloaded, **lookups} if lookups else preloaded
        # Today's date only matters to a set with PolicyExceptions.
        today = self._today() if policies.exceptions else None
        findings = self.evaluate(
            request, policies, namespace_labels=labels, lookups=lookups, today=today
        )
        decision = decide(findings)
        self.metrics.observe_findings(findings)
        if decision.overrides:
            self.metrics.observe_break_glass(decision.overrides)
        body = encode_response(
            api_version=review.apiVersion,
            uid=request.uid,
            allowed=decision.allowed,
            code=None if decision.allowed else 403,
            message=None if decision.allowed else decision.message(),
            warnings=decision.warning_texts() if decision.warnings or decision.overrides else None,
            audit_annotations=decision.audit_annotations,
        )
        return Outcome(body, "allowed" if decision.allowed else "denied", decision)

    async def _mutate(self, review: AdmissionReview, policies: PolicySet) -> Outcome:
        request = review.request
        labels = (
            await self.namespaces.labels(request.namespace)
            if self._reads_labels(request, policies)
            else NO_LABELS
        )
        mutated, applied = self.mutate(request, policies, namespace_labels=labels)
        if self.lookup is not None and mutable(request) and wants_pins(request, policies):
            async with asyncio.timeout(self.settings.timeout_seconds):
                lookups = await self.lookup(request, policies, namespace_labels=labels)
            pins = digest_pins(request, policies, lookups=lookups, namespace_labels=labels)
            if pins:
                base = mutated if mutated is not None else request.object
                mutated = apply_pins(base or {}, pins)
                applied = [*applied, *dict.fromkeys(f"{name}/pinDigest" for name, _ in pins)]
        patch = None
        if applied and request.object is not None and mutated is not None:
            patch = build_patch(request.object, mutated)
            for name in applied:
                policy, _, mutation = name.partition("/")
                self.metrics.mutations.labels(policy, mutation).inc()
        body = encode_response(
            api_version=review.apiVersion, uid=request.uid, allowed=True, patch=patch
        )
        return Outcome(body, "allowed", patched=tuple(applied) if patch else ())

    def _reply(
        self, request: AdmissionRequest, endpoint: str, outcome: Outcome, started: float
    ) -> Reply:
        """The answer of a decided request, after its bookkeeping: the namespace mirror sees
        what was admitted, then the request's metrics and its decision line."""
        verdict = outcome.verdict
        if verdict in ("allowed", "excluded"):
            self.namespaces.observe(request)
        seconds = time.perf_counter() - started
        kind = request.kind.kind
        operation = request.operation
        self.metrics.observe_request(endpoint, operation, kind, verdict, seconds)
        decision = outcome.decision
        failed: list[Mapping[str, str]] = []
        audits: list[str] = []
        if decision is not None:
            if decision.denials or decision.warnings or decision.audits:
                failed = failed_rules(decision)
            if decision.audit_annotations:
                audits = list(decision.audit_annotations.values())
        log_decision(
            request.uid,
            endpoint,
            kind,
            request.namespace,
            request.name,
            operation,
            request.userInfo.username,
            verdict,
            failed,
            audits,
            seconds,
            request.dryRun,
            list(outcome.patched) if outcome.patched else None,
        )
        return Reply(200, outcome.body)


def failed_rules(decision: Decision) -> list[Mapping[str, str]]:
    """Policy, rule and mode of each rule the decision's denials, warnings and audits name,
    once per rule, in that order."""
    failed: list[Mapping[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for finding in (*decision.denials, *decision.warnings, *decision.audits):
        if (finding.policy, finding.rule) not in seen:
            seen.add((finding.policy, finding.rule))
            failed.append({"policy": finding.policy, "rule": finding.rule, "mode": finding.mode})
    return failed
