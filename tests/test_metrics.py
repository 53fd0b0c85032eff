"""Metrics: rule results counted per request and added to their counters at a scrape, the
break-glass counter once per rule and request, the pending counts bounded; workers' shared
metrics in a file per process."""

from __future__ import annotations

import os
from pathlib import Path

from webhook.findings import Finding, Mode, Result
from webhook.metrics import (
    MULTIPROCESS_VARIABLE,
    PENDING_FINDINGS,
    Metrics,
    process_id,
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
        assert process_id()() == os.getpid()
        files = {path.name for path in directory.iterdir()}
        assert {f"counter_{os.getpid()}.db", f"counter_{child}.db"} <= files
        text = metrics.render().decode()
    line = 'policy_webhook_bad_requests_total{endpoint="validate",reason="malformed"} 3.0'
    assert line in text.splitlines()
