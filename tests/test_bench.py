"""The benchmarks stay runnable: their request mix, policy sets and the engine benchmark."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench import engine_bench, server_bench
from bench.mix import CATEGORIES, build_mix
from bench.policysets import SETS, write_policy_set
from bench.stats import percentile, table
from webhook.decision import decide
from webhook.engine import evaluate
from webhook.policy.loader import load_policy_set
from webhook.review import decode_review


def test_mix_has_the_shares_of_the_issue() -> None:
    reviews = build_mix(2000, seed=3)
    counts = Counter(review.label for review in reviews)
    for label, share, _, _ in CATEGORIES:
        assert abs(counts[label] / len(reviews) - share / 100) < 0.03, label
    violating = sum(review.violating for review in reviews) / len(reviews)
    dry_runs = sum(review.dry_run for review in reviews) / len(reviews)
    assert 0.07 < violating < 0.13
    assert 0.03 < dry_runs < 0.07
    assert len({review.uid for review in reviews}) == len(reviews)


def test_mix_is_the_same_for_a_seed() -> None:
    assert build_mix(30, seed=5) == build_mix(30, seed=5)
    assert build_mix(30, seed=5) != build_mix(30, seed=6)


def test_violating_reviews_are_denied_by_the_pod_security_set(tmp_path: Path) -> None:
    policies = load_policy_set([write_policy_set("pss", tmp_path)])
    reviews = build_mix(300, seed=11)
    for review in reviews:
        request = decode_review(review.body).request
        decision = decide(evaluate(request, policies))
        expected = review.violating and request.operation != "DELETE"
        assert decision.allowed is not expected, (review.label, decision.message())


def test_updates_carry_old_objects_with_managed_fields() -> None:
    updates = [r for r in build_mix(200, seed=2) if r.label == "Pod UPDATE"]
    assert updates
    request = decode_review(updates[0].body).request
    assert request.oldObject is not None and request.object is not None
    managers = [entry["manager"] for entry in request.oldObject["metadata"]["managedFields"]]
    assert managers == ["kube-controller-manager", "kubelet"]
    assert request.oldObject["status"]["phase"] == "Running"


@pytest.mark.parametrize(("name", "count"), [("trivial", 1), ("pss", 2), ("100", 100)])
def test_policy_sets_load(tmp_path: Path, name: str, count: int) -> None:
    assert name in SETS
    policies = load_policy_set([write_policy_set(name, tmp_path)])
    assert len(policies.policies) == count
    if name == "pss":
        assert sum(len(policy.rules) for policy in policies.policies) == 19


def test_engine_benchmark_reports_every_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "engine.json"
    assert engine_bench.main(["--count", "40", "--passes", "1", "--json", str(output)]) == 0
    figures = json.loads(output.read_text())
    assert set(figures["sets"]) == set(SETS)
    for entry in figures["sets"].values():
        assert entry["engine"]["p50_us"] > 0
        assert entry["answer"]["p99_us"] >= entry["answer"]["p50_us"]
    assert "cost of 100 policies relative to the Pod Security set" in capsys.readouterr().out


def test_percentile_and_table() -> None:
    values = [float(value) for value in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) == 0.0
    text = table(["a", "b"], [["x", 1.5], ["yy", 1234.0]])
    assert text.splitlines()[2] == "x    1.50"
    assert text.splitlines()[3] == "yy  1,234"


def _figures(throughput: float) -> dict[str, object]:
    """One server's figures at one level, as `server_bench.measure` gives them."""
    return {
        "throughput": throughput,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "max_ms": 3.0,
        "errors": 0,
        "shed": 0,
        "server_cpu_per_1000": 0.1,
        "client_cpu_per_1000": 0.04,
        "worker_rss_mib": [50.0, 51.0],
        "load_average": "1.50 1.40 1.30",
    }


def test_server_bench_share_is_the_median_of_each_runs_share() -> None:
    # Shares 50%, 75%, 58%: their median is 58%, where the ratio of the medians would be 60%.
    pairs = [(5000.0, 10000.0), (6000.0, 8000.0), (7000.0, 12000.0)]
    runs = [{"webhook": {"10": _figures(w)}, "allow-all": {"10": _figures(f)}} for w, f in pairs]
    report = server_bench.combine(runs)
    at_10 = report["webhook"]["10"]
    assert at_10["floor_shares"] == [0.5, 0.75, 7000 / 12000]
    assert at_10["floor_share"] == pytest.approx(7000 / 12000)
    assert at_10["throughput"] == 6000.0
    report["peak_rss_mib"] = {"1": 60.0}
    report["settings"] = {"workers": 2, "policies": "pss", "seconds": 8, "runs": 3, "cores": 2}
    row = server_bench.render(report).splitlines()[3].split()
    assert row[0] == "10"
    assert row[-3:] == ["58%", "50%-75%", "1.50"]


def test_server_bench_without_the_floor_reports_no_share() -> None:
    runs = [{"webhook": {"10": _figures(5000.0)}} for _ in range(2)]
    report = server_bench.combine(runs)
    assert "floor_share" not in report["webhook"]["10"]
    report["peak_rss_mib"] = {}
    report["settings"] = {"workers": 2, "policies": "pss", "seconds": 8, "runs": 2, "cores": 2}
    row = server_bench.render(report).splitlines()[3].split()
    assert row[-4:] == ["-", "-", "-", "1.50"]
