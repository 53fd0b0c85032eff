from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.helpers import pod_spec, request, wrap
from webhook.decision import decide
from webhook.engine import evaluate
from webhook.errors import PolicySetError
from webhook.findings import Finding, Result
from webhook.policy.compiled import PolicySet
from webhook.policy.exceptions import describe_expired, exception_counts
from webhook.policy.loader import load_policy_set
from webhook.policy.model import ExceptionSpec

BASELINE = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: workload-baseline}
spec:
  match: {kinds: [Pod]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
    - name: team-label
      expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
      message: "{kind} {name} needs a team label"
---
"""

EXCEPTION = """
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: legacy-batch-root}
spec:
  policies:
    - name: workload-baseline
      rules: [run-as-non-root]
  match: {kinds: [Job], namespaces: [legacy-batch], names: ["nightly-*"]}
  owner: team-data
  reason: vendor image runs as root; replacement tracked in DATA-142
  expires: 2027-03-31
"""

BEFORE_EXPIRY = date(2027, 3, 31)
AFTER_EXPIRY = date(2027, 4, 1)


def workload(
    kind: str, name: str, namespace: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A root `kind` whose object and pod template carry `labels`."""
    obj = wrap(kind, pod_spec(), name=name, namespace=namespace, labels=labels)
    if labels and kind != "Pod":
        obj["spec"]["template"]["metadata"]["labels"].update(labels)
    return obj


def root_job() -> dict[str, Any]:
    return workload("Job", "nightly-export", "legacy-batch", {"team": "data"})


def results(findings: list[Finding]) -> dict[str, Result]:
    return {finding.rule: finding.result for finding in findings}


def test_failure_of_a_waived_rule_becomes_a_waived_finding(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(BASELINE + EXCEPTION)
    findings = evaluate(request(root_job()), policies, today=BEFORE_EXPIRY)
    (waived,) = [f for f in findings if f.rule == "run-as-non-root"]
    assert waived.result is Result.WAIVED
    assert not waived.failed
    assert waived.waiver is not None
    assert waived.waiver.exception == "legacy-batch-root"
    assert waived.waiver.owner == "team-data"
    assert waived.waiver.expires == date(2027, 3, 31)
    assert "runAsNonRoot" in waived.message  # what was waived stays visible
    assert waived.waiver.describe() == (
        "waived by exception legacy-batch-root (owner team-data, expires 2027-03-31): "
        "vendor image runs as root; replacement tracked in DATA-142"
    )
    decision = decide(findings)
    assert decision.allowed
    assert decision.waived == (waived,)
    annotation = decision.audit_annotations["waived.workload-baseline.run-as-non-root"]
    assert "legacy-batch-root" in annotation


def test_only_the_named_rules_are_waived(policy_set: Callable[[str], PolicySet]) -> None:
    policies = policy_set(BASELINE + EXCEPTION)
    job = wrap("Job", pod_spec(), name="nightly-export", namespace="legacy-batch")
    findings = evaluate(request(job), policies, today=BEFORE_EXPIRY)
    assert results(findings) == {"run-as-non-root": Result.WAIVED, "team-label": Result.FAIL}
    decision = decide(findings)
    assert not decision.allowed
    assert [f.rule for f in decision.denials] == ["team-label"]


def test_no_rules_listed_waives_every_rule_of_the_policy(
    policy_set: Callable[[str], PolicySet],
) -> None:
    text = EXCEPTION.replace("      rules: [run-as-non-root]\n", "")
    policies = policy_set(BASELINE + text)
    job = wrap("Job", pod_spec(), name="nightly-export", namespace="legacy-batch")
    findings = evaluate(request(job), policies, today=BEFORE_EXPIRY)
    assert results(findings) == {"run-as-non-root": Result.WAIVED, "team-label": Result.WAIVED}
    assert decide(findings).allowed


@pytest.mark.parametrize(
    ("kind", "name", "namespace"),
    [
        ("Job", "daily-export", "legacy-batch"),  # name not selected
        ("Job", "nightly-export", "default"),  # namespace not selected
        ("Deployment", "nightly-export", "legacy-batch"),  # kind not selected
    ],
)
def test_objects_outside_the_match_are_not_waived(
    policy_set: Callable[[str], PolicySet], kind: str, name: str, namespace: str
) -> None:
    policies = policy_set(BASELINE + EXCEPTION)
    obj = workload(kind, name, namespace, {"team": "data"})
    findings = evaluate(request(obj), policies, today=BEFORE_EXPIRY)
    assert results(findings)["run-as-non-root"] is Result.FAIL
    assert not decide(findings).allowed


def test_exception_applies_through_its_expiry_date_and_not_after(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(BASELINE + EXCEPTION)
    on_the_day = evaluate(request(root_job()), policies, today=BEFORE_EXPIRY)
    assert results(on_the_day)["run-as-non-root"] is Result.WAIVED
    day_after = evaluate(request(root_job()), policies, today=AFTER_EXPIRY)
    assert results(day_after)["run-as-non-root"] is Result.FAIL
    assert not decide(day_after).allowed
    assert [e.name for e in policies.expired_exceptions(AFTER_EXPIRY)] == ["legacy-batch-root"]
    assert policies.expired_exceptions(BEFORE_EXPIRY) == []
    assert exception_counts(policies.exceptions, AFTER_EXPIRY) == {"active": 0, "expired": 1}
    assert exception_counts(policies.exceptions, BEFORE_EXPIRY) == {"active": 1, "expired": 0}
    line = describe_expired(policies.exceptions[0])
    assert "expired on 2027-03-31" in line
    assert "workload-baseline/run-as-non-root" in line


def test_without_a_date_no_exception_applies(policy_set: Callable[[str], PolicySet]) -> None:
    policies = policy_set(BASELINE + EXCEPTION)
    assert results(evaluate(request(root_job()), policies))["run-as-non-root"] is Result.FAIL


def test_exception_naming_pods_covers_pod_templates(
    policy_set: Callable[[str], PolicySet],
) -> None:
    text = EXCEPTION.replace("kinds: [Job]", "kinds: [Pod]")
    policies = policy_set(BASELINE + text)
    for kind in ("Pod", "Job", "Deployment", "CronJob"):
        obj = wrap(kind, pod_spec(), name="nightly-1", namespace="legacy-batch")
        findings = evaluate(request(obj), policies, today=BEFORE_EXPIRY)
        assert results(findings)["run-as-non-root"] is Result.WAIVED, kind


def test_a_label_selected_exception_needs_the_namespace_too(
    policy_set: Callable[[str], PolicySet],
) -> None:
    text = EXCEPTION.replace(
        'names: ["nightly-*"]', "objectSelector: {matchLabels: {legacy: 'true'}}"
    )
    policies = policy_set(BASELINE + text)
    labels = {"legacy": "true", "team": "data"}
    inside = workload("Job", "x", "legacy-batch", labels)
    outside = workload("Job", "x", "shop", labels)
    assert results(evaluate(request(inside), policies, today=BEFORE_EXPIRY)) == {
        "run-as-non-root": Result.WAIVED,
        "team-label": Result.PASS,
    }
    assert results(evaluate(request(outside), policies, today=BEFORE_EXPIRY))[
        "run-as-non-root"
    ] is (Result.FAIL)


SELF_EXEMPTING_METADATA = [
    {"annotations": {"policy-webhook.dev/exception": "legacy-batch-root"}},
    {"annotations": {"policy-webhook.dev/exempt": "true", "policy-webhook.dev/skip": "all"}},
    {"labels": {"policy-webhook.dev/exclude": "true", "policy-webhook.dev/waive": "true"}},
    {"annotations": {"policies.kyverno.io/exceptions": "legacy-batch-root"}},
    {"annotations": {"admission.gatekeeper.sh/ignore": "true"}},
    {"annotations": {"policy-webhook.dev/exceptions": EXCEPTION}},
]


@pytest.mark.parametrize("metadata", SELF_EXEMPTING_METADATA)
def test_an_object_cannot_exempt_itself(
    policy_set: Callable[[str], PolicySet],
    metadata: dict[str, dict[str, str]],
) -> None:
    # The active exception covers other objects; these carry every kind of self-exemption.
    policies = policy_set(BASELINE + EXCEPTION)
    job = workload("Job", "batch", "shop", {"team": "data"})
    for key, values in metadata.items():
        job["metadata"].setdefault(key, {}).update(values)
        job["spec"]["template"]["metadata"].setdefault(key, {}).update(values)
    findings = evaluate(request(job), policies, today=BEFORE_EXPIRY)
    assert results(findings)["run-as-non-root"] is Result.FAIL
    assert all(finding.waiver is None for finding in findings)
    assert not decide(findings).allowed


def load_error(path: Path) -> str:
    with pytest.raises(PolicySetError) as caught:
        load_policy_set([path])
    return str(caught.value)


@pytest.mark.parametrize(
    ("replace", "by", "line", "reason"),
    [
        ("- name: workload-baseline", "- name: workload-basline", 18, "'workload-basline'"),
        ("[run-as-non-root]", "[run-as-root, team-label]", 19, "rule(s) run-as-root"),
        ("expires: 2027-03-31", "expires: 2027-02-30", 23, "day is out of range"),
        ("expires: 2027-03-31", "expires: next spring", 23, "spec.expires"),
        ("  owner: team-data\n", "", 17, "spec.owner"),
        ("  reason: vendor", "  reasons: vendor", 17, "spec.reason: Field required"),
        (
            '{kinds: [Job], namespaces: [legacy-batch], names: ["nightly-*"]}',
            "{operations: [CREATE]}",
            20,
            "must name the objects",
        ),
        (
            '{kinds: [Job], namespaces: [legacy-batch], names: ["nightly-*"]}',
            "{objectSelector: {matchLabels: {legacy: 'true'}}}",
            20,
            "exempt itself",
        ),
    ],
)
def test_exception_errors_name_file_line_and_reason(
    write_policy: Callable[[str], Path], replace: str, by: str, line: int, reason: str
) -> None:
    text = BASELINE + EXCEPTION
    assert replace in text
    path = write_policy(text.replace(replace, by))
    message = load_error(path)
    assert f"{path}:{line}:" in message, message
    assert reason in message


def test_exceptions_may_live_in_their_own_file(write_policy: Callable[[str], Path]) -> None:
    policy = write_policy(BASELINE)
    exception = write_policy(EXCEPTION)
    policies = load_policy_set([policy, exception])
    (compiled,) = policies.exceptions
    assert compiled.source == str(exception)
    assert compiled.waiver.source == f"{exception}:1"


def test_duplicate_exception_names_do_not_load(write_policy: Callable[[str], Path]) -> None:
    policy = write_policy(BASELINE)
    first = write_policy(EXCEPTION)
    second = write_policy(EXCEPTION)
    with pytest.raises(PolicySetError) as caught:
        load_policy_set([policy, first, second])
    assert f"{second}:1: duplicate exception name 'legacy-batch-root'" in str(caught.value)


@given(st.text(max_size=20))
def test_any_expiry_text_is_a_date_or_one_validation_error(text: str) -> None:
    spec = {
        "policies": [{"name": "p"}],
        "match": {"kinds": ["Pod"]},
        "owner": "o",
        "reason": "r",
        "expires": text,
    }
    try:
        parsed = ExceptionSpec.model_validate(spec)
    except ValidationError:
        return
    assert parsed.expiry.isoformat() == text
