"""Which policy sets can read an object's managedFields, and the webhook's answers when the
decode skips them: the same answers and patches, managedFields intact for every set that can
read them."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from tests.asgi_client import call
from tests.conftest import DATA, POLICIES
from tests.drift_helpers import policy as drift_policy
from tests.helpers import pod_spec, wrap
from tests.reviews import admission_review
from webhook.app import WebhookApp, create_app
from webhook.engine import evaluate
from webhook.findings import Finding
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.review import AdmissionRequest
from webhook.settings import Settings

JSONObject = dict[str, Any]
MANAGED_FIELDS = [
    {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2025-03-14T09:26:53Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}}},
    }
]
CEL_POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {{name: cel}}
spec:
  match: {{kinds: [Pod]}}
  rules:
    - name: rule
      expression: "{expression}"
      message: "{{kind}} {{name}} fails"
"""
MUTATING = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: defaults}
spec:
  match: {kinds: [Pod, Deployment]}
  mutate:
    - name: security
      defaults:
        pod:
          securityContext: {seccompProfile: {type: RuntimeDefault}}
        containers:
          securityContext: {runAsNonRoot: true}
"""


def managed_pod(**container: Any) -> JSONObject:
    obj = wrap("Pod", pod_spec(**container))
    obj["metadata"]["managedFields"] = copy.deepcopy(MANAGED_FIELDS)
    return obj


def seeing_app(policies: PolicySet, seen: list[JSONObject | None]) -> WebhookApp:
    """The app, evaluating with the engine and keeping each object evaluation got."""

    def seeing(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
        lookups: Mapping[Any, Any] | None = None,
        today: date | None = None,
    ) -> list[Finding]:
        seen.append(request.object)
        return evaluate(
            request, policies, namespace_labels=namespace_labels, lookups=lookups, today=today
        )

    return create_app(settings=Settings(), policies=policies, evaluate=seeing)


@pytest.mark.parametrize(
    ("expression", "reads"),
    [
        ("object.metadata.name != ''", False),
        ("object.spec.containers.all(c, has(c.image))", False),
        ("has(object.metadata.labels) && object.metadata.labels['app'] != ''", False),
        ("oldObject == null || size(oldObject.metadata.managedFields) >= 0", False),
        ("!has(object.metadata.managedFields)", True),
        ("object.metadata.managedFields.all(m, m.manager != 'x')", True),
        ("object.metadata.all(k, k != 'x')", True),
        ("object != null", True),
    ],
)
def test_a_cel_rule_reads_managed_fields_when_its_paths_reach_them(
    policy_set: Callable[[str], PolicySet], expression: str, reads: bool
) -> None:
    assert policy_set(CEL_POLICY.format(expression=expression)).reads_managed_fields is reads


@pytest.mark.parametrize(
    ("paths", "reads"),
    [
        (["pod-security"], False),
        (["workloads"], False),
        (["secrets"], False),  # offline only: the webhook never runs it
        (["gitops"], True),  # ownership reads the field managers
        (["pod-security", "workloads", "gitops"], True),
    ],
)
def test_shipped_policies(paths: list[str], reads: bool) -> None:
    assert load_policy_set([POLICIES / path for path in paths]).reads_managed_fields is reads


@pytest.mark.parametrize("check", ["gitOwnership", "desiredState"])
def test_drift_checks_read_managed_fields(
    policy_set: Callable[[str], PolicySet], check: str, tmp_path: Path
) -> None:
    extra = f"path: {tmp_path}" if check == "desiredState" else ""
    assert policy_set(drift_policy(check, extra)).reads_managed_fields is True


def test_mutations_and_exceptions_do_not_read_managed_fields() -> None:
    policies = load_policy_set([DATA / "reliability" / "policies", POLICIES / "pod-security"])
    assert policies.exceptions or any(policy.mutations for policy in policies.policies)
    assert policies.reads_managed_fields is False


def test_a_set_that_cannot_read_them_is_evaluated_without_them() -> None:
    seen: list[JSONObject | None] = []
    # (its CEL rules name no pod reads, so the object is not projected: webhook.projection)
    policies = load_policy_set([POLICIES / "pod-security", DATA / "reliability" / "policies"])
    assert not policies.reads_managed_fields and policies.pod_reads is None
    app = seeing_app(policies, seen)
    obj = managed_pod(securityContext={"privileged": True})
    response = call(app, "/validate", json.dumps(admission_review(obj)).encode())
    answer = response.json()["response"]
    assert answer["allowed"] is False
    assert "privileged" in answer["status"]["message"]
    del obj["metadata"]["managedFields"]
    assert seen == [obj]


def test_a_set_that_reads_them_sees_them(policy_set: Callable[[str], PolicySet]) -> None:
    seen: list[JSONObject | None] = []
    policies = policy_set(CEL_POLICY.format(expression="!has(object.metadata.managedFields)"))
    app = seeing_app(policies, seen)
    obj = managed_pod()
    answer = call(app, "/validate", json.dumps(admission_review(obj)).encode()).json()
    assert answer["response"]["allowed"] is False
    assert seen == [obj]


@pytest.mark.parametrize("kind", ["Pod", "Deployment"])
def test_patches_are_those_of_the_full_object_and_keep_managed_fields(
    policy_set: Callable[[str], PolicySet], kind: str
) -> None:
    obj = wrap(kind, pod_spec())
    obj["metadata"]["managedFields"] = copy.deepcopy(MANAGED_FIELDS)
    body = json.dumps(admission_review(obj)).encode()
    blind = policy_set(MUTATING)
    reading = policy_set(
        MUTATING + "---\n" + CEL_POLICY.format(expression="has(object.metadata.managedFields)")
    )
    assert not blind.reads_managed_fields and reading.reads_managed_fields
    patches = []
    for policies in (blind, reading):
        answer = call(create_app(settings=Settings(), policies=policies), "/mutate", body).json()
        patches.append(json.loads(base64.b64decode(answer["response"]["patch"])))
    assert patches[0] == patches[1]
    assert all("managedFields" not in operation["path"] for operation in patches[0])
    patched = jsonpatch.apply_patch(obj, patches[0])
    assert patched["metadata"] == obj["metadata"]
    assert patched["spec"] != obj["spec"]


def test_a_number_out_of_range_in_managed_fields_is_refused_by_sets_that_read_them(
    policy_set: Callable[[str], PolicySet],
) -> None:
    """The documented difference: a set that cannot read managedFields does not check the
    range of their numbers (the API server never sends one out of range)."""
    plain = json.dumps(admission_review(managed_pod())).encode()
    body = plain.replace(b'"f:image": {}', b'"f:image": 1e999')
    assert body != plain
    reading = policy_set(CEL_POLICY.format(expression="has(object.metadata.managedFields)"))
    refused = call(create_app(settings=Settings(), policies=reading), "/validate", body)
    assert refused.status_code == 400
    assert "out of range" in refused.json()["detail"]
    blind = load_policy_set([POLICIES / "pod-security"])
    app = create_app(settings=Settings(), policies=blind)
    answered = call(app, "/validate", body)
    assert answered.status_code == 200
    assert answered.json() == call(app, "/validate", plain).json()
