"""A short run of the load and fault script (bench/faults.py): every fault passes without a
failed request, and the server drains on SIGTERM. Figures are the script's; none is asserted."""

from __future__ import annotations

import argparse

from bench.faults import run


def test_faults_under_load_fail_no_request() -> None:
    report = run(argparse.Namespace(levels=[4], seconds=1.5, long_seconds=2.0))
    assert [row["errors"] for row in report["rising"]] == [0]
    assert report["rising"][0]["ok"] > 0
    for fault in ("invalid_policy_reload", "certificate_rotation"):
        assert report[fault]["failed"] == 0, report[fault]
        assert report[fault]["requests"] > 0
    registry = report["registry"]  # down, stalling, down again: fail closed, never fail
    assert registry["failed"] == 0 and registry["denied"] > 0
    assert all(registry[phase]["requests"] > 0 for phase in ("down", "stalling", "down_again"))
    assert report["long_run"]["errors"] == 0
    shutdown = report["sigterm"]
    assert shutdown["exit_code"] == 0
    assert shutdown["readiness_failed_after_s"] < shutdown["exited_after_s"]
    assert shutdown["during_drain"]["failed"] == 0
