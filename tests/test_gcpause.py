"""`check` and `diff` run with the cyclic collector paused: it is restored afterwards, and what
they build while it is paused leaves no cyclic garbage behind (so memory does not grow)."""

from __future__ import annotations

import gc
from datetime import date

import pytest

from tests.conftest import DATA, POLICIES
from webhook.dryrun import run_check
from webhook.gcpause import collector_paused
from webhook.policy.loader import load_policy_set
from webhook.signatures.api import SkipVerification


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_state_is_restored(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_collector_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("stop")
    assert gc.isenabled()


def test_checking_manifests_leaves_no_cyclic_garbage() -> None:
    policies = load_policy_set([str(POLICIES)])
    paths = [str(DATA / "manifests"), str(DATA / "reliability")]
    run_check(paths, policies, today=date(2026, 1, 1), verifier=SkipVerification())  # caches
    gc.collect()
    with collector_paused():
        report = run_check(paths, policies, today=date(2026, 1, 1), verifier=SkipVerification())
        assert report.objects and report.errors  # valid objects and bad files were both read
        assert gc.collect() == 0
