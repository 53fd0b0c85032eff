"""Metrics: rule results counted per request and added to their counters at a scrape, the
break-glass counter once per rule and request, the pending counts bounded; workers' shared
metrics in a file per process."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from webhook.findings import Finding, Mode, Result
from webhook.metrics import (
    LATENCY_BUCKETS,
    MULTIPROCESS_VARIABLE,
    PENDING_FINDINGS,
    Metrics,
    shared_metrics,
)

RULE_RESULTS = "policy_webhook_rule_results_total"


def finding(rule: str, result: Result, message: str = "", mode: Mode = Mode.ENFORCE) -> Finding:
    return Finding(policy="baseline", rule=rule, mode=mode, result=result, message=message)


def count(metrics: Metrics, rule: str, result: Result, mode: Mode = Mode.ENFORCE) -> float | None:
    labels = {"policy": "baseline", "rule": rule, "mode": mode.value, "result": result.value}
    return metrics.registry.get_sample_value(RULE_RESULTS, labels)


def test_rule_results_are_counted_by_rule_mode_and_result_at_a_scrape() -> None:
    metrics = Metrics()
    passed = finding("privileged", Result.PASS)
    metrics.observe_findings([passed, finding("non-root", Result.FAIL, "container a")])
    metrics.observe_findings(
        [
            passed,
            finding("non-root", Result.FAIL, "container a"),
            finding("non-root", Result.FAIL, "container b"),
            finding("non-root", Result.FAIL, "container b", Mode.AUDIT),
        ]
    )
    metrics.observe_findings([])
    text = metrics.render().decode()
    assert RULE_RESULTS in text
    assert count(metrics, "privileged", Result.PASS) == 2
    assert count(metrics, "non-root", Result.FAIL) == 3
    assert count(metrics, "non-root", Result.FAIL, Mode.AUDIT) == 1
    metrics.observe_findings([passed])
    metrics.render()
    assert count(metrics, "privileged", Result.PASS) == 3  # added once, not again


def test_break_glass_counts_once_per_rule_and_request() -> None:
    metrics = Metrics()
    overridden = [
        finding("privileged", Result.OVERRIDDEN, "container a"),
        finding("privileged", Result.OVERRIDDEN, "container b"),
        finding("host-path", Result.OVERRIDDEN, "volume c"),
    ]
    metrics.observe_break_glass(overridden)
    metrics.observe_break_glass(overridden[:1])
    found = {
        rule: metrics.registry.get_sample_value(
            "policy_webhook_break_glass_total", {"policy": "baseline", "rule": rule}
        )
        for rule in ("privileged", "host-path", "non-root")
    }
    assert found == {"privileged": 2, "host-path": 1, "non-root": None}


def test_pending_counts_are_added_without_a_scrape_past_the_bound() -> None:
    metrics = Metrics()
    for number in range(PENDING_FINDINGS + 1):  # failed findings that differ by message
        metrics.observe_findings([finding("non-root", Result.FAIL, f"container {number}")])
    assert count(metrics, "non-root", Result.FAIL) == PENDING_FINDINGS + 1


def test_shared_metrics_follow_a_fork_into_a_file_of_the_child() -> None:
    with shared_metrics(enabled=True):
        directory = Path(os.environ[MULTIPROCESS_VARIABLE])
        metrics = Metrics(multiprocess=True)
        labels = {"endpoint": "validate", "reason": "malformed"}
        metrics.bad_requests.labels(*labels.values()).inc()
        child = os.fork()
        if child == 0:  # the child: counts into a file of its own, then leaves at once
            code = 1
            try:
                metrics.bad_requests.labels(*labels.values()).inc(2)
                code = 0
            finally:
                os._exit(code)
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
        files = {path.name for path in directory.iterdir()}
        assert {f"counter_{os.getpid()}.db", f"counter_{child}.db"} <= files
        text = metrics.render().decode()
    line = 'policy_webhook_bad_requests_total{endpoint="validate",reason="malformed"} 3.0'
    assert line in text.splitlines()


# Every bound of the latency buckets, and values between, below and above them.
LATENCIES = [
    0.0,
    0.0001,
    *LATENCY_BUCKETS,
    *(bound * 1.5 for bound in LATENCY_BUCKETS),
    *(bound * 0.999 for bound in LATENCY_BUCKETS),
    7.25,
    120.0,
]
REQUESTS = "policy_webhook_requests_total"
LATENCY = "policy_webhook_request_duration_seconds"


def expected_latency(latencies: list[float]) -> dict[str, float]:
    """The samples prometheus_client's own Histogram.observe gives for `latencies`."""
    registry = CollectorRegistry()
    histogram = Histogram(
        LATENCY, "reference", ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry
    )
    for seconds in latencies:
        histogram.labels("validate").observe(seconds)
    return latency_samples(generate_latest(registry))


def latency_samples(text: bytes) -> dict[str, float]:
    samples = {}
    for line in text.decode().splitlines():
        if line.startswith(LATENCY) and not line.startswith(f"{LATENCY}_created"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def observe(metrics: Metrics, latencies: list[float]) -> None:
    """A request per latency, one in three denied."""
    for number, seconds in enumerate(latencies):
        verdict = "allowed" if number % 3 else "denied"
        metrics.observe_request("validate", "CREATE", "Pod", verdict, seconds)


def requests(text: bytes) -> dict[str, float]:
    return {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.decode().splitlines()
        if line.startswith(REQUESTS + "{")
    }


def test_requests_and_latency_are_counted_as_prometheus_client_counts_them() -> None:
    metrics = Metrics()
    observe(metrics, LATENCIES)
    text = metrics.render()
    assert latency_samples(text) == expected_latency(LATENCIES)
    assert latency_samples(text)[f'{LATENCY}_count{{endpoint="validate"}}'] == len(LATENCIES)
    denied = len(LATENCIES[::3])
    assert requests(text) == {
        f'{REQUESTS}{{endpoint="validate",kind="Pod",operation="CREATE",verdict="allowed"}}': (
            len(LATENCIES) - denied
        ),
        f'{REQUESTS}{{endpoint="validate",kind="Pod",operation="CREATE",verdict="denied"}}': denied,
    }


def test_requests_counted_directly_add_up_with_prometheus_clients_own_updates() -> None:
    metrics = Metrics()
    observe(metrics, LATENCIES[:4])
    metrics.requests.labels("validate", "CREATE", "Pod", "allowed").inc(10)
    for seconds in LATENCIES[4:]:
        metrics.latency.labels("validate").observe(seconds)
    observe(metrics, LATENCIES[:4])
    text = metrics.render()
    assert latency_samples(text) == expected_latency([*LATENCIES[4:], *LATENCIES[:4] * 2])
    allowed = f'{REQUESTS}{{endpoint="validate",kind="Pod",operation="CREATE",verdict="allowed"}}'
    assert requests(text)[allowed] == 10 + 2 + 2  # two of each four allowed


def test_workers_scrapes_show_every_request_of_every_worker_at_once() -> None:
    """With shared metrics, a scrape in one worker shows the requests another worker answered
    up to then, with no flush in between."""
    first, second = LATENCIES[::2], LATENCIES[1::2]
    with shared_metrics(enabled=True):
        metrics = Metrics(multiprocess=True)
        observe(metrics, first)
        child = os.fork()
        if child == 0:  # the second worker: answers and leaves at once
            code = 1
            try:
                observe(metrics, second)
                code = 0
            finally:
                os._exit(code)
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
        text = metrics.render()
        observe(metrics, [0.002])
        after = metrics.render()
    assert latency_samples(text) == expected_latency(LATENCIES)
    assert sum(requests(text).values()) == len(LATENCIES)
    assert latency_samples(after) == expected_latency([*LATENCIES, 0.002])
    assert sum(requests(after).values()) == len(LATENCIES) + 1
