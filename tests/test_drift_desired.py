"""desiredState over real reviews, and the store of rendered manifests it reads."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.drift_helpers import RENDERED, policy, review
from webhook.decision import decide
from webhook.desired.snapshot import (
    DesiredSnapshot,
    DesiredStateKey,
    DesiredStateUnavailable,
    ObjectKey,
    guess_resource,
)
from webhook.desired.store import DesiredStates, DesiredStateStore, load_snapshot
from webhook.engine import evaluate
from webhook.errors import DesiredStateError
from webhook.findings import Result
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.review import with_old_object

PolicyFactory = Callable[[str], PolicySet]


def desired_policy(path: Path | str, extra: str = "") -> str:
    return policy("desiredState", f"path: {path}\n{extra}")


@pytest.fixture
def loaded(policy_set: PolicyFactory) -> tuple[PolicySet, DesiredStates]:
    policies = policy_set(desired_policy(RENDERED))
    states = DesiredStates.for_policies(policies)
    (result,) = states.reload()
    assert result.ok, result.message
    return policies, states


CASES = [
    (
        "kubectl-edit",
        False,
        [
            "/spec/template/spec/containers/0/image: Git declares "
            '"registry.example.com/shop/web:1.4.2", the request sets '
            '"registry.example.com/shop/web:1.5.0"',
            "shop/web.yaml:25",
        ],
    ),
    (
        "kubectl-scale",
        False,
        [
            "Deployment shop/web differs from Git at /spec/replicas: "
            "Git declares 3, the request sets 5"
        ],
    ),
    ("flux-managed-edit", False, ['"ghcr.io/stefanprodan/podinfo:6.7.1"', "podinfo.json:1"]),
    ("argocd-sync", True, []),  # a controller applies a newer Git revision
    ("flux-apply", True, []),
    ("hpa-scale", True, []),
    ("kubectl-scale-hpa-owned", True, []),  # Git leaves replicas to the autoscaler
    ("apply-same-as-git", True, []),  # a person restoring what Git declares
    ("rollout-restart", True, []),  # Git sets no pod template annotations
    ("marker-removal", True, []),  # markers are not Git's: gitOwnership guards them
    ("create-with-markers", True, []),  # equal to Git's ConfigMap
    ("unmanaged-edit", True, []),  # not in Git
    ("kubectl-delete", True, []),  # deletes are gitOwnership's
]


@pytest.mark.parametrize(("name", "admitted", "says"), CASES, ids=[case[0] for case in CASES])
def test_desired_state_over_real_reviews(
    loaded: tuple[PolicySet, DesiredStates], name: str, admitted: bool, says: list[str]
) -> None:
    policies, states = loaded
    decision = decide(evaluate(review(name), policies, lookups=states.lookups()))
    assert decision.allowed is admitted
    if admitted:
        return
    (denial,) = decision.denials
    for text in says:
        assert text in denial.message


def test_break_glass_difference_is_admitted_and_recorded(
    loaded: tuple[PolicySet, DesiredStates],
) -> None:
    policies, states = loaded
    decision = decide(evaluate(review("break-glass-edit"), policies, lookups=states.lookups()))
    assert decision.allowed
    (override,) = decision.overrides
    assert override.path == "/spec/template/spec/containers/0/resources/limits/memory"
    assert 'Git declares "512Mi", the request sets "1Gi"' in override.message
    assert "bob@example.com" in decision.audit_annotations["gitops.no-drift"]


def test_drift_from_before_the_request_is_said_so(
    loaded: tuple[PolicySet, DesiredStates],
) -> None:
    # An update of an object whose image had drifted already: the difference is not new.
    policies, states = loaded
    request = review("kubectl-edit")
    drifted = with_old_object(request, request.object)
    (denial,) = decide(evaluate(drifted, policies, lookups=states.lookups())).denials
    assert "the object already differed before this request" in denial.message


def test_writable_replicas_are_not_compared(policy_set: PolicyFactory) -> None:
    policies = policy_set(desired_policy(RENDERED, "writableFields: [/spec/replicas]"))
    states = DesiredStates.for_policies(policies)
    states.reload()
    assert decide(evaluate(review("kubectl-scale"), policies, lookups=states.lookups())).allowed


def test_missing_directory_is_an_error_not_an_allow(
    policy_set: PolicyFactory, tmp_path: Path
) -> None:
    policies = policy_set(desired_policy(tmp_path / "absent"))
    states = DesiredStates.for_policies(policies)
    (result,) = states.reload()
    assert not result.ok and "cannot read" in result.message
    findings = evaluate(review("unmanaged-edit"), policies, lookups=states.lookups())
    (finding,) = findings
    assert finding.result is Result.ERROR
    assert "cannot compare with the desired state" in finding.message
    assert not decide(findings).allowed


def test_a_store_nobody_loaded_is_an_error(policy_set: PolicyFactory) -> None:
    findings = evaluate(review("kubectl-edit"), policy_set(desired_policy(RENDERED)))
    assert [f.result for f in findings] == [Result.ERROR]
    assert "has not loaded it" in findings[0].message


def test_break_glass_gets_through_an_unavailable_store(
    policy_set: PolicyFactory, tmp_path: Path
) -> None:
    policies = policy_set(desired_policy(tmp_path / "absent"))
    states = DesiredStates.for_policies(policies)
    states.reload()
    decision = decide(evaluate(review("break-glass-edit"), policies, lookups=states.lookups()))
    assert decision.allowed and len(decision.overrides) == 1


def test_relative_paths_are_relative_to_the_policy_file(
    write_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    shutil.copytree(RENDERED, tmp_path / "rendered")
    policies = load_policy_set([write_policy(desired_policy("rendered"))])
    states = DesiredStates.for_policies(policies)
    assert list(states.stores) == [DesiredStateKey(str(tmp_path / "rendered"))]


def test_version_mismatch_is_an_error(tmp_path: Path, policy_set: PolicyFactory) -> None:
    root = tmp_path / "rendered"
    shutil.copytree(RENDERED, root)
    web = root / "shop" / "web.yaml"
    web.write_text(web.read_text().replace("apiVersion: apps/v1", "apiVersion: apps/v1beta2"))
    policies = policy_set(desired_policy(root))
    states = DesiredStates.for_policies(policies)
    states.reload()
    (finding,) = evaluate(review("kubectl-edit"), policies, lookups=states.lookups())
    assert finding.result is Result.ERROR and "version v1beta2" in finding.message


# -- the store ---------------------------------------------------------------------------------


def test_snapshot_indexes_by_group_kind_namespace_name() -> None:
    snapshot = load_snapshot(RENDERED)
    assert sorted(snapshot.objects) == [
        ObjectKey("", "ConfigMap", "shop", "web-config"),
        ObjectKey("", "Service", "shop", "web"),
        ObjectKey("apps", "Deployment", "podinfo", "podinfo"),
        ObjectKey("apps", "Deployment", "shop", "web"),
        ObjectKey("autoscaling", "HorizontalPodAutoscaler", "podinfo", "podinfo"),
    ]
    found = snapshot.by_resource(group="apps", resource="deployments", namespace="shop", name="web")
    assert found is not None and found.where == "shop/web.yaml:25"


@pytest.mark.parametrize(
    ("kind", "resource"),
    [("Deployment", "deployments"), ("Ingress", "ingresses"), ("NetworkPolicy", "networkpolicies")],
)
def test_resource_names(kind: str, resource: str) -> None:
    assert guess_resource(kind) == resource


def copy_rendered(root: Path) -> Path:
    shutil.copytree(RENDERED, root)
    return root


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (lambda root: (root / "shop" / "broken.yaml").write_text("a: [unclosed\n"), "invalid YAML"),
        (
            lambda root: shutil.copy(root / "shop" / "web.yaml", root / "copy.yaml"),
            "also declared in",
        ),
        (lambda root: shutil.rmtree(root), "cannot read"),
    ],
    ids=["bad file", "declared twice", "missing"],
)
def test_bad_directories_are_reported(
    tmp_path: Path, breakage: Callable[[Path], object], reason: str
) -> None:
    root = copy_rendered(tmp_path / "rendered")
    breakage(root)
    with pytest.raises(DesiredStateError) as caught:
        load_snapshot(root)
    assert reason in str(caught.value)


def test_an_empty_directory_is_not_an_empty_desired_state(tmp_path: Path) -> None:
    with pytest.raises(DesiredStateError, match="no YAML or JSON manifests"):
        load_snapshot(tmp_path)


def test_a_bad_reload_keeps_the_last_good_snapshot(tmp_path: Path) -> None:
    root = copy_rendered(tmp_path / "rendered")
    store = DesiredStateStore(root)
    assert store.reload().ok
    good = store.state
    (root / "shop" / "broken.yaml").write_text("kind: [\n")
    result = store.reload()
    assert not result.ok and "still serving the previous snapshot" in result.message
    assert store.state is good
    shutil.rmtree(root)
    assert not store.reload().ok
    assert isinstance(store.state, DesiredStateUnavailable)  # a vanished checkout is an error


def test_refresh_reloads_only_after_a_change(tmp_path: Path) -> None:
    root = copy_rendered(tmp_path / "rendered")
    store = DesiredStateStore(root)
    store.reload()
    assert store.refresh() is None
    (root / "shop" / "extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\n"
    )
    result = store.refresh()
    assert result is not None and result.ok
    assert isinstance(store.state, DesiredSnapshot)
    assert ObjectKey("", "ConfigMap", "shop", "extra") in store.state.objects


def test_reload_swaps_whole_snapshots(tmp_path: Path) -> None:
    # A git-sync style checkout: `current` is a symlink swapped between two revisions. Readers
    # running beside the reloads only ever see one whole revision.
    one = copy_rendered(tmp_path / "rev-1")
    two = copy_rendered(tmp_path / "rev-2")
    for index in range(40):
        (two / f"extra-{index}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: extra-{index}, namespace: x}}\n"
        )
    current = tmp_path / "current"
    current.symlink_to(one)
    store = DesiredStateStore(current)
    store.reload()
    sizes = {len(load_snapshot(one).objects), len(load_snapshot(two).objects)}
    seen: set[int | str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            state = store.state
            seen.add(len(state.objects) if isinstance(state, DesiredSnapshot) else state.reason)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for revision in (two, one, two, one, two):
            swap = tmp_path / "current.tmp"
            swap.symlink_to(revision)
            os.replace(swap, current)
            assert store.reload().ok
    finally:
        done.set()
        reader.join()
    assert seen <= sizes
    assert isinstance(store.state, DesiredSnapshot)
    assert store.state.source == str(two)


def test_stores_are_reused_across_policy_reloads(policy_set: PolicyFactory) -> None:
    first = DesiredStates.for_policies(policy_set(desired_policy(RENDERED)))
    first.reload()
    second = DesiredStates.for_policies(policy_set(desired_policy(RENDERED)), previous=first)
    assert list(second.stores.values()) == list(first.stores.values())
    assert isinstance(next(iter(second.lookups().values())), DesiredSnapshot)
    assert DesiredStates.for_policies(policy_set(policy("gitOwnership"))).stores == {}
