"""Prometheus metrics of the webhook, in a registry of their own (one per app, none at import).

Label children are cached, so recording a request costs a few dict lookups. With several
worker processes (`shared_metrics`), values live in prometheus_client's multiprocess files and
every worker's /metrics shows the sum over all workers.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from webhook.findings import Finding
from webhook.metricfiles import SharedValue, SharedValues
from webhook.policy.compiled import PolicySet
from webhook.policy.exceptions import exception_counts
from webhook.today import UtcToday

PREFIX = "policy_webhook"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST
# prometheus_client finds its multiprocess directory in this variable when it opens files.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Distinct findings counted before they are added to the counters without waiting for a
# scrape (failed findings differ by message: bounds what a worker nobody scrapes holds).
PENDING_FINDINGS = 10_000


class Value(Protocol):
    """Where prometheus_client keeps the number of a label child (a float under a lock, or
    its slot in the worker's file when workers share metrics)."""

    def inc(self, amount: float) -> None: ...


# The counter value of a request's labels, the sum and buckets of its endpoint's latency
# histogram, and how a request updates them: SharedValues.observe when the values are shared,
# _increment_each otherwise.
RequestValues = tuple[Value, Value, Sequence[Value], Callable[..., None]]


def _increment_each(counter: Value, total: Value, amount: float, bucket: Value) -> None:
    """A request's updates, for prometheus_client's own values (each under its lock)."""
    counter.inc(1)
    total.inc(amount)
    bucket.inc(1)


@contextlib.contextmanager
def shared_metrics(*, enabled: bool) -> Iterator[None]:
    """Metrics shared by the worker processes forked inside: a private directory of
    multiprocess files, removed at the end. Enter before any metric exists in this process."""
    if not enabled:
        yield
        return
    directory = tempfile.mkdtemp(prefix="policy-webhook-metrics-")
    os.environ[MULTIPROCESS_VARIABLE] = directory
    shared = SharedValues(directory)
    values.ValueClass = shared
    try:
        yield
    finally:
        values.ValueClass = values.MutexValue
        with shared.lock:
            shared.close()
        os.environ.pop(MULTIPROCESS_VARIABLE, None)
        shutil.rmtree(directory, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """Drop the live gauges of a worker that ended (its counters stay in the sums)."""
    directory = os.environ.get(MULTIPROCESS_VARIABLE)
    if directory:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


class Metrics:
    """Every metric the webhook exports; `render()` is the /metrics body."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, multiprocess: bool = False
    ) -> None:
        """`multiprocess`: inside `shared_metrics`, render the sum over every worker."""
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess
        self._scrape_time: list[Collector] = []
        r = self.registry
        self.requests = Counter(
            f"{PREFIX}_requests",
            "Admission requests answered, by endpoint, operation, kind and verdict "
            "(allowed, denied, excluded, error).",
            ["endpoint", "operation", "kind", "verdict"],
            registry=r,
        )
        self.bad_requests = Counter(
            f"{PREFIX}_bad_requests",
            "Requests rejected before evaluation, by reason (malformed: HTTP 400, too_large: 413).",
            ["endpoint", "reason"],
            registry=r,
        )
        self.shed_requests = Counter(
            f"{PREFIX}_shed_requests",
            "Requests answered without evaluation because the worker had too many in flight.",
            ["endpoint"],
            registry=r,
        )
        self.internal_errors = Counter(
            f"{PREFIX}_internal_errors",
            "Internal errors while evaluating, answered by the configured failure mode.",
            ["endpoint"],
            registry=r,
        )
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time from the body read to the encoded answer.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rule_results = Counter(
            f"{PREFIX}_rule_results",
            "Rule results, by policy, rule, mode and result "
            "(pass, fail, error, skip, waived, overridden).",
            ["policy", "rule", "mode", "result"],
            registry=r,
        )
        self.break_glass = Counter(
            f"{PREFIX}_break_glass",
            "Changes admitted by break-glass that a rule would have denied, by policy and rule.",
            ["policy", "rule"],
            registry=r,
        )
        self.desired_state_reloads = Counter(
            f"{PREFIX}_desired_state_reloads",
            "Loads of a directory of rendered manifests (desired state), by result "
            "(success, failure).",
            ["result"],
            registry=r,
        )
        self.desired_state_objects = Gauge(
            f"{PREFIX}_desired_state_objects",
            "Objects in the desired state served for each directory; -1 while it is unavailable.",
            ["path"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.mutations = Counter(
            f"{PREFIX}_mutations",
            "Mutations that changed an object, by policy and mutation.",
            ["policy", "mutation"],
            registry=r,
        )
        self.policy_reloads = Counter(
            f"{PREFIX}_policy_reloads",
            "Policy reloads after a file change, by result (success, failure).",
            ["result"],
            registry=r,
        )
        self.policies_loaded = Gauge(
            f"{PREFIX}_policies_loaded",
            "Policies in the set being served.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.policy_set_timestamp = Gauge(
            f"{PREFIX}_policy_set_loaded_timestamp_seconds",
            "When the set being served was loaded (Unix time; the oldest of the workers).",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.certificate_reloads = Counter(
            f"{PREFIX}_certificate_reloads",
            "Serving certificate reloads after a file change, by result (success, failure).",
            ["result"],
            registry=r,
        )
        self.certificate_expiry = Gauge(
            f"{PREFIX}_certificate_expiry_timestamp_seconds",
            "When the serving certificate being served expires (Unix time).",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.signature_results = Counter(
            f"{PREFIX}_signature_results",
            "Image signature answers used by admission requests (cached or looked up), by "
            "outcome (verified, not signed, signed by someone else, timed out, ...).",
            ["outcome"],
            registry=r,
        )
        self.signature_lookup_seconds = Histogram(
            f"{PREFIX}_signature_lookup_duration_seconds",
            "Time an admission request spent waiting for image signature answers.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.namespace_lookups = Counter(
            f"{PREFIX}_namespace_lookups",
            "Namespace label lookups for namespaceSelector, by answer (cache, api: a GET on a "
            "miss, unknown: no labels in time, so selector-dependent rules fail closed).",
            ["answer"],
            registry=r,
        )
        self.namespace_lists = Counter(
            f"{PREFIX}_namespace_lists",
            "Full lists of the namespaces from the Kubernetes API, by result (success, failure).",
            ["result"],
            registry=r,
        )
        self.namespace_watch_errors = Counter(
            f"{PREFIX}_namespace_watch_errors",
            "Namespace watches that ended with an error, by reason (expired: 410, listed "
            "again; error: reconnected after a backoff).",
            ["reason"],
            registry=r,
        )
        self.namespaces_known = Gauge(
            f"{PREFIX}_namespaces_known",
            "Namespaces whose labels the worker knows (from the list and watch).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self._request_values: dict[tuple[str, str, str, str], RequestValues] = {}
        self._rule_children: dict[tuple[str, str, str, str], Counter] = {}
        # The findings of each request, as a tuple, with how many requests had just those.
        self._pending_rules: dict[tuple[Finding, ...], int] = {}
        self._pending_size = 0  # findings in the distinct tuples held
        # The latency buckets' upper bounds with +Inf: an observation goes to the first bound
        # it does not exceed, as Histogram.observe finds it.
        self._latency_bounds = (*LATENCY_BUCKETS, math.inf)

    def observe_request(
        self, endpoint: str, operation: str, kind: str, verdict: str, seconds: float
    ) -> None:
        """Count an answered request and its latency. The values of the label children are
        updated directly (what Counter.inc and Histogram.observe do for a child, without
        their checks and the walk over the bucket bounds); when workers share metrics, the
        three are written to the worker's files at once, under one lock, so every scrape sees
        the request."""
        key = (endpoint, operation, kind, verdict)
        found = self._request_values.get(key)
        if found is None:
            found = self._request_values[key] = self._request_children(key)
        value, total, buckets, together = found
        together(value, total, seconds, buckets[bisect_left(self._latency_bounds, seconds)])

    def _request_children(self, key: tuple[str, str, str, str]) -> RequestValues:
        """The values a request of `key` updates: its counter's, and the sum and buckets of
        its endpoint's latency histogram; with the shared values' `observe` when workers
        share metrics (the three written under one lock)."""
        value = self.requests.labels(*key)._value
        histogram = self.latency.labels(key[0])
        total, buckets = histogram._sum, histogram._buckets
        if isinstance(value, SharedValue):
            return value, total, buckets, value._shared.observe
        return value, total, buckets, _increment_each

    def observe_findings(self, findings: Sequence[Finding]) -> None:
        """Count rule results: by the tuple of a request's findings, added to the counters by
        `flush` (at every scrape, periodically when workers share metrics, and past
        PENDING_FINDINGS findings in distinct tuples); a request has one result per rule, and
        a counter increment per result costs more than the rest of the request's bookkeeping
        together. The PASS and SKIP findings of a rule are the same objects in every request
        and keep their hash, so requests with the same results make equal tuples, found with
        one lookup."""
        key = tuple(findings)
        pending = self._pending_rules
        count = pending.get(key)
        if count is not None:
            pending[key] = count + 1
            return
        pending[key] = 1
        self._pending_size += len(key)
        if self._pending_size > PENDING_FINDINGS:
            self.flush()

    def observe_break_glass(self, overridden: Sequence[Finding]) -> None:
        """Count the rules a request's break-glass overrides admitted (its OVERRIDDEN findings):
        once per rule, however many fields."""
        for policy, rule in dict.fromkeys((f.policy, f.rule) for f in overridden):
            self.break_glass.labels(policy, rule).inc()

    def watch_exceptions(
        self, policies: Callable[[], PolicySet], *, today: Callable[[], date] | None = None
    ) -> None:
        """Export the active and expired PolicyExceptions of the set `policies()` serves."""
        collector = ExceptionCollector(policies, today=today or UtcToday())
        self.registry.register(collector)
        self._scrape_time.append(collector)

    def flush(self) -> None:
        """Add the rule results counted since the last flush to their counters."""
        pending, self._pending_rules = self._pending_rules, {}
        self._pending_size = 0
        counts: dict[tuple[str, str, str, str], int] = {}
        for findings, requests in pending.items():
            for finding in findings:
                key = (finding.policy, finding.rule, finding.mode.value, finding.result.value)
                counts[key] = counts.get(key, 0) + requests
        children = self._rule_children
        for key, count in counts.items():
            child = children.get(key)
            if child is None:
                child = children[key] = self.rule_results.labels(*key)
            child.inc(count)

    def render(self) -> bytes:
        self.flush()
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        for collector in self._scrape_time:
            registry.register(collector)
        return generate_latest(registry)


class ExceptionCollector(Collector):
    """`policy_webhook_policy_exceptions{state}`, counted at scrape time: an exception that
    expires while the set is served moves from active to expired without a reload."""

    def __init__(self, policies: Callable[[], PolicySet], *, today: Callable[[], date]) -> None:
        self.policies = policies
        self.today = today

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        counts = exception_counts(self.policies().exceptions, self.today())
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{PREFIX}_policy_exceptions",
            "PolicyExceptions in the set being served, by state (active, expired).",
            labels=["state"],
        )
