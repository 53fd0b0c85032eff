"""gitOwnership over AdmissionReviews shaped as the API server sends them."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from tests.drift_helpers import policy, review
from webhook.decision import decide
from webhook.engine import evaluate
from webhook.errors import PolicySetError
from webhook.findings import Result
from webhook.policy.compiled import PolicySet

PolicyFactory = Callable[[str], PolicySet]
RESTARTED_AT = "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"
RESOURCES = "/spec/template/spec/containers/*/resources"

# review, admitted, what the single message must say (empty: no failed finding at all)
CASES = [
    (
        "kubectl-edit",
        False,
        [
            "alice@example.com may not change Deployment shop/web",
            "Argo CD application shop-prod",
            "change in Git",
            "/spec/template/spec/containers/0/image",
        ],
    ),
    (
        "kubectl-delete",
        False,
        [
            "may not delete Deployment shop/web",
            "Argo CD application shop-prod",
            "Remove it from Git",
        ],
    ),
    (
        "marker-removal",
        False,
        [
            "may not change the GitOps markers of Deployment shop/web",
            "annotation argocd.argoproj.io/tracking-id",
            "removed",
        ],
    ),
    ("rollout-restart", False, [RESTARTED_AT]),
    ("flux-managed-edit", False, ["Flux Kustomization flux-system/apps"]),
    ("helmrelease-edit", False, ["Flux HelmRelease monitoring/kube-state-metrics"]),
    ("argocd-label-edit", False, ["Argo CD application shop-legacy", "/data/CHECKOUT_URL"]),
    (
        "create-with-markers",
        False,
        [
            "may not create ConfigMap shop/web-config",
            "Argo CD application shop-prod",
            "add it to Git",
        ],
    ),
    ("argocd-sync", True, []),
    ("flux-apply", True, []),
    ("hpa-scale", True, []),
    ("kubectl-scale", True, []),  # default `scale: allow`: a Scale shows no markers
    ("kubectl-scale-hpa-owned", True, []),
    ("namespace-controller-delete", True, []),
    ("apply-same-as-git", True, []),  # only last-applied and managedFields change
    ("unmanaged-edit", True, []),
    ("helm-install-edit", True, []),  # Helm's instance label is not Argo CD's
    ("replicaset-delete", True, []),  # a child carries its Deployment's copied tracking id
]


@pytest.mark.parametrize(("name", "admitted", "says"), CASES, ids=[case[0] for case in CASES])
def test_ownership_over_real_reviews(
    policy_set: PolicyFactory, name: str, admitted: bool, says: list[str]
) -> None:
    decision = decide(evaluate(review(name), policy_set(policy("gitOwnership"))))
    assert decision.allowed is admitted
    if admitted:
        assert not decision.warnings and not decision.overrides
        return
    (denial,) = decision.denials
    for text in says:
        assert text in denial.message


def test_helm_release_is_not_named_as_an_argo_application(policy_set: PolicyFactory) -> None:
    (denial,) = decide(
        evaluate(review("helmrelease-edit"), policy_set(policy("gitOwnership")))
    ).denials
    assert "Argo CD" not in denial.message
    assert denial.path == "/data/config.yaml"


def test_break_glass_admits_with_a_warning_and_an_audit_annotation(
    policy_set: PolicyFactory,
) -> None:
    findings = evaluate(review("break-glass-edit"), policy_set(policy("gitOwnership")))
    decision = decide(findings)
    assert decision.allowed
    (override,) = decision.overrides
    assert override.result is Result.OVERRIDDEN
    assert "break-glass change by user bob@example.com (group oidc:sre-oncall)" in override.message
    assert override.path == "/spec/template/spec/containers/0/resources/limits/memory"
    (warning,) = decision.warning_texts()
    assert warning.startswith("[gitops/no-drift] break-glass change by user bob@example.com")
    assert "bob@example.com" in decision.audit_annotations["gitops.no-drift"]


def test_break_glass_is_admitted_in_every_mode(policy_set: PolicyFactory) -> None:
    for mode in ("enforce", "warn", "audit"):
        policies = policy_set(policy("gitOwnership", mode=mode))
        decision = decide(evaluate(review("break-glass-edit"), policies))
        assert decision.allowed and len(decision.overrides) == 1, mode


def test_without_break_glass_the_same_edit_is_denied(policy_set: PolicyFactory) -> None:
    text = policy("gitOwnership").replace('        breakGlass: {groups: ["oidc:sre-oncall"]}\n', "")
    decision = decide(evaluate(review("break-glass-edit"), policy_set(text)))
    assert not decision.allowed and not decision.overrides


def test_marker_removal_denied_even_when_labels_are_writable(policy_set: PolicyFactory) -> None:
    text = policy("gitOwnership", "writableFields: [/metadata/annotations]")
    (denial,) = decide(evaluate(review("marker-removal"), policy_set(text))).denials
    assert "GitOps markers" in denial.message
    assert denial.path == "/metadata/annotations/argocd.argoproj.io~1tracking-id"


@pytest.mark.parametrize(
    ("extra", "name", "admitted"),
    [
        ("scale: deny", "kubectl-scale", False),
        ("scale: deny", "hpa-scale", True),  # the autoscaler is a built-in controller
        ("scale: deny\nwritableFields: [/spec/replicas]", "kubectl-scale", True),
        (f"writableFields: [{RESTARTED_AT}]", "rollout-restart", True),
        (f"writableFields: ['{RESOURCES}']", "break-glass-edit", True),
        (f"writableFields: ['{RESOURCES}']", "kubectl-edit", False),
        ("builtinControllers: false", "namespace-controller-delete", False),
        ("builtinControllers: false", "hpa-scale", True),  # scale: allow
        ("argoCD: {instanceLabel: ''}", "argocd-label-edit", True),
        ("argoCD: {trackingAnnotation: false}", "kubectl-edit", True),
        ("flux: false", "flux-managed-edit", True),
    ],
)
def test_parameters(policy_set: PolicyFactory, extra: str, name: str, admitted: bool) -> None:
    decision = decide(evaluate(review(name), policy_set(policy("gitOwnership", extra))))
    assert decision.allowed is admitted
    assert not decision.overrides


def test_scale_deny_names_the_resource_and_the_way_out(policy_set: PolicyFactory) -> None:
    policies = policy_set(policy("gitOwnership", "scale: deny"))
    (denial,) = decide(evaluate(review("kubectl-scale"), policies)).denials
    assert "may not scale deployments shop/web" in denial.message
    assert "writableFields" in denial.message
    assert denial.path == "/spec/replicas"


def test_extra_markers_name_their_source(policy_set: PolicyFactory) -> None:
    extra = """
        markers:
          - label: app.kubernetes.io/instance
            value: "shop-*"
            source: "the shop repository ({value})"
        argoCD: {instanceLabel: ""}
    """
    (denial,) = decide(
        evaluate(review("argocd-label-edit"), policy_set(policy("gitOwnership", extra)))
    ).denials
    assert "managed from Git by the shop repository (shop-legacy)" in denial.message


def test_scale_requests_reach_the_rule_only_when_the_policy_names_scale(
    policy_set: PolicyFactory,
) -> None:
    text = policy("gitOwnership", "scale: deny").replace("    subresources: [scale]\n", "")
    assert evaluate(review("kubectl-scale"), policy_set(text)) == []


def test_status_updates_pass(policy_set: PolicyFactory) -> None:
    text = policy("gitOwnership").replace("[scale]", "[scale, status]")
    status_update = msgspec.structs.replace(review("kubectl-edit"), subResource="status")
    findings = evaluate(status_update, policy_set(text))
    assert [finding.result for finding in findings] == [Result.PASS]


def test_manifests_from_git_pass_in_check(policy_set: PolicyFactory) -> None:
    # `check` evaluates rendered manifests, which are Git: creating them is never drift.
    findings = evaluate(
        review("create-with-markers"), policy_set(policy("gitOwnership")), offline=True
    )
    assert [finding.result for finding in findings] == [Result.PASS]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("controllers: {serviceAccounts: []}", "controllers must name"),
        ("writableFields: [spec/replicas]", "must be a JSON Pointer"),
        ("writableFields: ['/spec//replicas']", "empty segment"),
        ("breakGlass: {groups: []}", "breakGlass must name"),
        ("markers: [{label: a, annotation: b, source: x}]", "exactly one of"),
        ("scale: maybe", "scale"),
        ("unknownKey: 1", "unknownKey"),
    ],
)
def test_bad_parameters_fail_to_load(policy_set: PolicyFactory, extra: str, reason: str) -> None:
    text = policy("gitOwnership").replace('        breakGlass: {groups: ["oidc:sre-oncall"]}\n', "")
    if extra.startswith("controllers"):
        text = text.split("        controllers:")[0] + f"        {extra}\n"
    else:
        text += f"        {extra}\n"
    with pytest.raises(PolicySetError) as caught:
        policy_set(text)
    assert reason in str(caught.value)
