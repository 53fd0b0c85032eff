"""Metrics: rule results counted per request and added to their counters at a scrape, the
break-glass counter once per rule and request, and the pending counts bounded."""

from __future__ import annotations

from webhook.findings import Finding, Mode, Result
from webhook.metrics import PENDING_FINDINGS, Metrics

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
        finding("non-root", Result.PASS),
    ]
    metrics.observe_findings(overridden)
    metrics.observe_findings(overridden)
    metrics.observe_findings([finding("privileged", Result.FAIL, "container a")])
    value = metrics.registry.get_sample_value(
        "policy_webhook_break_glass_total", {"policy": "baseline", "rule": "privileged"}
    )
    assert value == 2
    assert (
        metrics.registry.get_sample_value(
            "policy_webhook_break_glass_total", {"policy": "baseline", "rule": "non-root"}
        )
        is None
    )


def test_pending_counts_are_added_without_a_scrape_past_the_bound() -> None:
    metrics = Metrics()
    for number in range(PENDING_FINDINGS + 1):  # failed findings that differ by message
        metrics.observe_findings([finding("non-root", Result.FAIL, f"container {number}")])
    assert count(metrics, "non-root", Result.FAIL) == PENDING_FINDINGS + 1
