from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from tests.conftest import POLICIES
from tests.helpers import pod_spec, request, wrap
from tests.test_pod_security_conformance import FILES, as_kind
from webhook.decision import decide
from webhook.engine import build_context, evaluate, evaluate_rule, matching_policies
from webhook.findings import Finding, Findings, Mode, Result
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.review import AdmissionRequest

NON_ROOT = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: non-root}
spec:
  match: {kinds: [Pod]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""

WORKLOAD_KINDS = [
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "PodTemplate",
]


def failures(findings: list) -> list:  # type: ignore[type-arg]
    return [finding for finding in findings if finding.failed]


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_pod_rules_apply_to_every_workload_kind(
    policy_set: Callable[[str], PolicySet], kind: str
) -> None:
    policies = policy_set(NON_ROOT)
    root = evaluate(request(wrap(kind, pod_spec())), policies)
    (failure,) = failures(root)
    assert failure.container == "app"
    assert failure.path.endswith("/containers/0/securityContext/runAsNonRoot")
    assert "runAsNonRoot: true" in failure.message
    safe = pod_spec(securityContext={"runAsNonRoot": True})
    assert [f.result for f in evaluate(request(wrap(kind, safe)), policies)] == [Result.PASS]


def test_paths_follow_the_kind(policy_set: Callable[[str], PolicySet]) -> None:
    policies = policy_set(NON_ROOT)
    cron = failures(evaluate(request(wrap("CronJob", pod_spec())), policies))[0]
    assert cron.path == (
        "/spec/jobTemplate/spec/template/spec/containers/0/securityContext/runAsNonRoot"
    )


@pytest.mark.parametrize(
    ("pod_context", "container_context", "violates"),
    [
        ({}, {}, True),
        ({"runAsNonRoot": True}, {}, False),
        ({"runAsUser": 1000}, {}, False),
        ({"runAsNonRoot": True}, {"runAsUser": 0}, True),
        ({"runAsUser": 0}, {"runAsUser": 1000}, False),
        ({"runAsNonRoot": True}, {"runAsNonRoot": False}, True),
        ({}, {"runAsNonRoot": True, "runAsUser": 0}, True),
    ],
)
def test_container_settings_override_the_pod(
    policy_set: Callable[[str], PolicySet],
    pod_context: dict,  # type: ignore[type-arg]
    container_context: dict,  # type: ignore[type-arg]
    violates: bool,
) -> None:
    spec = pod_spec(securityContext=container_context)
    spec["securityContext"] = pod_context
    findings = evaluate(request(wrap("Pod", spec)), policy_set(NON_ROOT))
    assert bool(failures(findings)) is violates


def test_init_and_ephemeral_containers_are_checked(
    policy_set: Callable[[str], PolicySet],
) -> None:
    spec = pod_spec(securityContext={"runAsNonRoot": True})
    spec["initContainers"] = [{"name": "setup", "image": "busybox:1"}]
    spec["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1"}]
    found = failures(evaluate(request(wrap("Pod", spec)), policy_set(NON_ROOT)))
    assert sorted(f.container for f in found) == ["debug", "setup"]
    assert any('init container "setup"' in f.message for f in found)


def test_non_pod_kinds_do_not_match_pod_policies(policy_set: Callable[[str], PolicySet]) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert evaluate(request(config), policy_set(NON_ROOT)) == []


def test_delete_is_not_evaluated_by_default(policy_set: Callable[[str], PolicySet]) -> None:
    pod = wrap("Pod", pod_spec())
    assert evaluate(request(None, operation="DELETE", old=pod), policy_set(NON_ROOT)) == []


MATCHING = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: scoped}
spec:
  match:
    kinds: [Pod]
    namespaces: ["team-*"]
    objectSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [test]}]}
    namespaceSelector: {matchLabels: {env: prod}}
  exclude:
    subjects: {groups: [sre], serviceAccounts: ["ci:*"]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""


@pytest.mark.parametrize(
    ("namespace", "labels", "ns_labels", "user", "groups", "applies"),
    [
        ("team-a", {}, {"env": "prod"}, "alice", [], True),
        ("other", {}, {"env": "prod"}, "alice", [], False),
        ("team-a", {"tier": "test"}, {"env": "prod"}, "alice", [], False),
        ("team-a", {}, {"env": "dev"}, "alice", [], False),
        ("team-a", {}, {"env": "prod"}, "bob", ["sre"], False),
        ("team-a", {}, {"env": "prod"}, "system:serviceaccount:ci:deployer", [], False),
        ("team-a", {}, {"env": "prod"}, "system:serviceaccount:app:deployer", [], True),
    ],
)
def test_match_and_exclude(
    policy_set: Callable[[str], PolicySet],
    namespace: str,
    labels: dict[str, str],
    ns_labels: dict[str, str],
    user: str,
    groups: list[str],
    applies: bool,
) -> None:
    obj = wrap("Deployment", pod_spec(), namespace=namespace, labels=labels)
    findings = evaluate(
        request(obj, user=user, groups=groups), policy_set(MATCHING), namespace_labels=ns_labels
    )
    assert bool(findings) is applies


SELECTIONS = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: teams}
spec:
  match: {kinds: [Pod], namespaces: %s}
  exclude: {namespaces: [team-x]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
---
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: updates}
spec:
  match: {kinds: [apps/Deployment], operations: [UPDATE]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""
BY_NAME = """
---
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: api}
spec:
  match: {kinds: [Pod], names: ["api-*"]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""
# (kind, namespace, name, operation) -> the policies that select it, in both sets; "api" only
# in the set that has it.
SELECTION_CASES = [
    ("Pod", "team-a", "web", "CREATE", ["teams"]),
    ("Pod", "team-a", "api-1", "CREATE", ["api", "teams"]),
    ("Pod", "team-x", "web", "CREATE", []),
    ("Pod", "team-x", "api-2", "CREATE", ["api"]),
    ("Pod", "other", "api-3", "UPDATE", ["api"]),
    ("Pod", "other", "web", "UPDATE", []),
    ("Deployment", "team-b", "web", "CREATE", ["teams"]),
    ("Deployment", "team-b", "web", "UPDATE", ["teams", "updates"]),
    ("Deployment", "team-x", "api-4", "UPDATE", ["api", "updates"]),
    ("Deployment", "other", "web", "CREATE", []),
]


@pytest.mark.parametrize("namespaces", ['["team-*"]', "[team-a, team-b, team-x]"])
@pytest.mark.parametrize("by_name", [False, True])
def test_a_policy_set_selects_each_request_by_what_its_policies_read(
    policy_set: Callable[[str], PolicySet], by_name: bool, namespaces: str
) -> None:
    """A set answering many requests (the selection by kind, operation and namespace may be
    worked out once) selects each as it would on its own, also when a policy reads the name;
    namespaces named by globs or literally."""
    policies = policy_set(SELECTIONS % namespaces + (BY_NAME if by_name else ""))
    for _ in range(2):
        for kind, namespace, name, operation, expected in SELECTION_CASES:
            obj = wrap(kind, pod_spec(), name=name, namespace=namespace)
            findings = evaluate(request(obj, operation=operation), policies)
            wanted = [policy for policy in expected if by_name or policy != "api"]
            assert sorted({finding.policy for finding in findings}) == wanted


CEL = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: cel}
spec:
  match: {kinds: [Pod]}
  params: {team: payments}
  rules:
    - name: team-label
      expression: "has(object.metadata.labels) && object.metadata.labels.app == 'demo'"
      message: "{kind} {name} needs the app label"
    - name: params-and-request
      expression: "params.team == 'payments' && request.userInfo.username == 'alice'"
      message: "only alice"
    - name: broken-at-runtime
      mode: warn
      expression: "object.spec.missing == 1"
      message: "never"
"""


def test_cel_rules_see_the_pod_template_and_variables(
    policy_set: Callable[[str], PolicySet],
) -> None:
    findings = evaluate(request(wrap("Deployment", pod_spec())), policy_set(CEL))
    results = {f.rule: f.result for f in findings}
    assert results["team-label"] is Result.PASS  # the template's labels are app: demo
    assert results["params-and-request"] is Result.PASS
    assert results["broken-at-runtime"] is Result.ERROR
    other = evaluate(request(wrap("Deployment", pod_spec()), user="bob"), policy_set(CEL))
    failed = {f.rule: f.message for f in other if f.result is Result.FAIL}
    assert failed == {"params-and-request": "only alice"}


def test_rule_level_mode_and_message(policy_set: Callable[[str], PolicySet]) -> None:
    text = NON_ROOT.replace(
        "check: nonRoot}",
        "check: nonRoot, mode: audit, message: 'fix {container} in {kind} {name}: {detail}'}",
    )
    (finding,) = failures(evaluate(request(wrap("Pod", pod_spec())), policy_set(text)))
    assert finding.mode.value == "audit"
    assert finding.message.startswith('fix app in Pod demo: container "app" may run as root')


def _rule_by_rule(request: AdmissionRequest, policies: PolicySet) -> list[Finding]:
    """What `evaluate` gives, worked out with `evaluate_rule` on every rule of every policy."""
    context = build_context(request)
    return [
        finding
        for policy in matching_policies(context, policies)
        for rule in policy.rules
        for finding in evaluate_rule(policy, rule, context)
    ]


PSS = load_policy_set([POLICIES / "pod-security"])


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "CronJob"])
def test_policies_of_pod_checks_alone_give_the_findings_of_each_rule(kind: str) -> None:
    assert all(policy.pod_runs is not None for policy in PSS.policies)
    compared = 0
    for path in FILES:
        pod = yaml.safe_load(path.read_text())
        review = request(as_kind(pod, kind))
        findings = evaluate(review, PSS)
        assert findings == _rule_by_rule(review, PSS), path
        assert isinstance(findings, Findings)
        assert findings.quiet is all(f.result in (Result.PASS, Result.SKIP) for f in findings)
        assert decide(findings) == decide(list(findings))
        compared += any(finding.failed for finding in findings)
    assert compared > 50  # failing fixtures among them


def test_policies_of_pod_checks_alone_skip_objects_without_a_pod_spec() -> None:
    review = request(wrap("Deployment", pod_spec()) | {"spec": {"replicas": 1}})
    findings = evaluate(review, PSS)
    assert findings and {finding.result for finding in findings} == {Result.SKIP}
    assert findings == _rule_by_rule(review, PSS)
    assert isinstance(findings, Findings) and findings.quiet


PRIVILEGED = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: privileged}
spec:
  match: {kinds: [Pod]}
  rules:
    - {name: privileged, check: podSecurity/privileged}
"""


def test_a_policy_with_another_rule_keeps_the_general_way(
    policy_set: Callable[[str], PolicySet],
) -> None:
    (policy,) = policy_set(PRIVILEGED).policies
    assert policy.pod_runs is not None and len(policy.skipped) == 1
    named = (
        PRIVILEGED
        + "    - {name: named, expression: has(object.metadata.name), message: name it}\n"
    )
    (policy,) = policy_set(named).policies
    assert policy.pod_runs is None and len(policy.skipped) == 2
    privileged = pod_spec(securityContext={"privileged": True})
    findings = evaluate(request(wrap("Pod", privileged)), policy_set(named))
    assert [(f.rule, f.result) for f in findings] == [
        ("privileged", Result.FAIL),
        ("named", Result.PASS),
    ]


def test_findings_built_outside_the_engine_are_not_quiet_and_are_decided_one_by_one() -> None:
    failed = Finding("p", "r", Mode.ENFORCE, Result.FAIL, "pod is privileged")
    findings = Findings([failed])
    assert findings.quiet is False
    decision = decide(findings)
    assert not decision.allowed and decision.denials == (failed,)
