"""The check benchmark runs and counts right (a smoke test: no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import check_bench
from tests.conftest import DATA


def test_replicate_copies_every_manifest_file(tmp_path: Path) -> None:
    files = check_bench.replicate(DATA / "manifests", tmp_path, 2)
    copied = sorted(path for path in tmp_path.rglob("*") if path.is_file())
    assert files == len(copied) == 2 * 17
    assert all(path.suffix in (".yaml", ".yml") for path in copied)


def test_the_benchmark_runs_policy_webhook_and_reports_per_object_cost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments = ["--source", str(DATA / "manifests"), "--objects", "68", "--runs", "1"]
    assert check_bench.main([*arguments, "--checkov-runs", "0", "--sizes", "1"]) == 0
    out = capsys.readouterr().out
    assert "68 objects per copy" in out
    assert "start-up (imports, policies, no manifests):" in out and " s cpu" in out
    assert "policy-webhook       68 objects" in out
    assert "per-object cost by size" in out
