"""End to end: the real `serve` process, called over TLS the way the API server calls it."""

from __future__ import annotations

import copy
import json
import textwrap
import time
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from cryptography import x509

from tests.helpers import pod_spec, wrap
from tests.reviews import DATA, admission_review, load_review, raw_review
from tests.webhook_server import (
    NAMESPACE,
    SERVICE,
    WebhookClient,
    WebhookServer,
    decoded_patch,
    running_webhook,
    write_certificates,
)
from webhook.decision import decide
from webhook.engine import evaluate
from webhook.namespaces import NOT_SEEN
from webhook.policy.loader import load_policy_set
from webhook.policy.matching import UnknownLabels
from webhook.review import decode_review

JSONObject = dict[str, Any]
MAX_BODY = 2 * 1024 * 1024
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
POLICIES = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: workload-baseline}
spec:
  mode: enforce
  match: {kinds: [Pod], operations: [CREATE, UPDATE]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
    - name: resources
      check: resources
      with: {requests: [cpu, memory], limits: [memory]}
  mutate:
    - name: default-resources
      defaults:
        containers:
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
          securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false}
---
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: team-label}
spec:
  mode: warn
  match: {kinds: [Deployment, StatefulSet, DaemonSet, Job, CronJob]}
  rules:
    - name: team-label
      expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
      message: "{kind} {name} needs a metadata.labels.team naming the owning team"
---
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: image-tags}
spec:
  mode: audit
  match: {kinds: [Pod]}
  rules:
    - {name: no-latest, check: images}
---
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: protected-config}
spec:
  match: {kinds: [ConfigMap], operations: [DELETE]}
  rules:
    - name: keep-protected
      expression: "!(has(oldObject.metadata.labels) && 'protected' in oldObject.metadata.labels)"
      message: "ConfigMap {name} is protected; remove its protected label first"
---
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: prod-read-only}
spec:
  match: {kinds: [Pod], namespaceSelector: {matchLabels: {env: prod}}}
  rules:
    - {name: read-only-root, check: readOnlyRootFilesystem}
---
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: legacy-root}
spec:
  policies: [{name: workload-baseline, rules: [run-as-non-root]}]
  match: {kinds: [Pod], namespaces: [legacy], names: ["legacy-*"]}
  owner: team-data
  reason: vendor image runs as root; replacement tracked in DATA-142
  expires: 2099-12-31
---
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: expired-root}
spec:
  policies: [{name: workload-baseline, rules: [run-as-non-root]}]
  match: {kinds: [Pod], namespaces: [legacy], names: ["old-*"]}
  owner: team-data
  reason: ended
  expires: 2020-01-31
"""
ADMITTED_NAMESPACES = ("default", "legacy")
POD_SPEC_KEYS = {
    "Pod": ["spec"],
    "PodTemplate": ["template", "spec"],
    "CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
}
SAFE: JSONObject = {
    "securityContext": {"runAsNonRoot": True},
    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
}


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("policies")
    (directory / "policies.yaml").write_text(textwrap.dedent(POLICIES).lstrip())
    return directory


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[WebhookServer]:
    certificates = tmp_path_factory.mktemp("certs")
    write_certificates(certificates)
    with running_webhook(
        policies=[policy_dir],
        certificates=certificates,
        log=certificates / "server.log",
        extra=["--max-body-bytes", str(MAX_BODY)],
    ) as server:
        # Without a Kubernetes API the server knows the labels of the Namespaces it admitted.
        with server.client() as client:
            for name in ADMITTED_NAMESPACES:
                namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                assert client.review("/validate", admission_review(namespace))["allowed"]
        yield server


@pytest.fixture(scope="module")
def client(webhook: WebhookServer) -> Iterator[WebhookClient]:
    with webhook.client() as client:
        yield client


def conformance_files(folder: str) -> list[str]:
    return sorted(f"{folder}/{path.name}" for path in (DATA / folder).glob("*.json"))


def decodable(name: str) -> bool:
    try:
        decode_review(raw_review(name))
    except Exception:
        return False
    return True


VALID_REVIEWS = [name for name in conformance_files("connaisseur") if decodable(name)]
MALFORMED_REVIEWS = [
    name
    for name in conformance_files("connaisseur") + conformance_files("kubernetes-api")
    if not decodable(name)
]


def test_the_conformance_sets_hold_both_kinds() -> None:
    assert len(VALID_REVIEWS) >= 20
    for name in ("21_broken_admission_request", "25_null_request", "26_broken_update"):
        assert any(name in malformed for malformed in MALFORMED_REVIEWS)


@pytest.mark.parametrize("name", VALID_REVIEWS)
def test_real_reviews_get_the_engines_verdict_in_the_version_asked(
    client: WebhookClient, policy_dir: Path, name: str
) -> None:
    review = load_review(name)
    response = client.review("/validate", review)
    request = decode_review(raw_review(name)).request
    if request.namespace in ("kube-system", NAMESPACE):
        assert response["allowed"] is True
        return
    # No Kubernetes API is configured: labels are known for the Namespaces admitted only.
    labels: Mapping[str, str] = (
        {}
        if request.namespace in ADMITTED_NAMESPACES
        else UnknownLabels(request.namespace, NOT_SEEN)
    )
    policies = load_policy_set([policy_dir])
    decision = decide(evaluate(request, policies, namespace_labels=labels, today=date.today()))
    assert response["allowed"] is decision.allowed
    if not decision.allowed:
        assert response["status"]["code"] == 403
        assert response["status"]["message"] == decision.message()


def test_a_real_pod_review_is_denied_with_every_failed_rule(client: WebhookClient) -> None:
    response = client.review("/validate", load_review("connaisseur/02_pod.json"))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert "[workload-baseline/run-as-non-root]" in message
    assert "[workload-baseline/resources]" in message
    assert "/spec/containers/0/securityContext/runAsNonRoot" in message


UPSTREAM_OBJECTS = [
    name for name in conformance_files("kubernetes-api") if "AdmissionReview" not in name
]


@pytest.mark.parametrize("name", UPSTREAM_OBJECTS)
def test_upstream_objects_with_every_field_set_are_answered(
    client: WebhookClient, policy_dir: Path, name: str
) -> None:
    obj = load_review(name)  # a Pod or workload object with placeholder values, not a review
    review = admission_review(obj)
    request = decode_review(json.dumps(review).encode()).request
    expected = decide(evaluate(request, load_policy_set([policy_dir]), today=date.today()))
    assert client.review("/validate", review)["allowed"] is expected.allowed
    operations = decoded_patch(client.review("/mutate", review))
    assert operations is not None  # their containers set no securityContext.runAsNonRoot
    patched = jsonpatch.apply_patch(obj, operations)
    assert decoded_patch(client.review("/mutate", admission_review(patched))) is None


@pytest.mark.parametrize("name", MALFORMED_REVIEWS)
def test_malformed_reviews_get_400(client: WebhookClient, name: str) -> None:
    answer = client.post("/validate", raw_review(name))
    assert answer.status_code == 400
    assert answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b"{}", b"{", b'"AdmissionReview"', b"\xff\xfe", b"[" * 100_000],
    ids=["empty", "null", "list", "object", "truncated", "string", "binary", "deep"],
)
@pytest.mark.parametrize("path", ["/validate", "/mutate"])
def test_bad_bodies_get_400_and_the_server_lives_on(
    client: WebhookClient, path: str, body: bytes
) -> None:
    assert client.post(path, body).status_code == 400
    assert client.get("/healthz").status_code == 200


def test_a_body_over_the_limit_gets_413(client: WebhookClient) -> None:
    obj = wrap("ConfigMap", {"data": {"big": "x" * MAX_BODY}})
    answer = client.post("/validate", json.dumps(admission_review(obj)).encode())
    assert answer.status_code == 413
    small = wrap("ConfigMap", {"data": {"big": "x" * (MAX_BODY // 2)}})
    assert client.review("/validate", admission_review(small))["allowed"] is True


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_every_workload_kind_is_checked_at_its_own_paths(client: WebhookClient, kind: str) -> None:
    denied = client.review("/validate", admission_review(wrap(kind, pod_spec())))
    assert denied["allowed"] is False
    assert denied["status"]["code"] == 403
    template = {"Pod": "", "PodTemplate": "/template", "CronJob": "/spec/jobTemplate/spec/template"}
    prefix = template.get(kind, "/spec/template")
    assert f"{prefix}/spec/containers/0/securityContext/runAsNonRoot" in denied["status"]["message"]
    labels = {"team": "shop"}
    allowed = client.review(
        "/validate", admission_review(wrap(kind, pod_spec(**SAFE), labels=labels))
    )
    assert allowed["allowed"] is True
    assert "warnings" not in allowed


def test_update_sees_the_old_object(client: WebhookClient) -> None:
    old = wrap("Deployment", pod_spec(**SAFE), labels={"team": "shop"})
    new = wrap("Deployment", pod_spec(), labels={"team": "shop"})
    response = client.review("/validate", admission_review(new, operation="UPDATE", old=old))
    assert response["allowed"] is False
    fixed = client.review("/validate", admission_review(old, operation="UPDATE", old=new))
    assert fixed["allowed"] is True


def test_delete_has_no_object(client: WebhookClient) -> None:
    protected = wrap("ConfigMap", {"data": {}}, labels={"protected": "yes"})
    review = admission_review(None, operation="DELETE", old=protected)
    assert review["request"]["object"] is None
    response = client.review("/validate", review)
    assert response["allowed"] is False
    assert "is protected" in response["status"]["message"]
    plain = admission_review(None, operation="DELETE", old=wrap("ConfigMap", {"data": {}}))
    assert client.review("/validate", plain)["allowed"] is True
    assert decoded_patch(client.review("/mutate", review)) is None


@pytest.mark.parametrize("dry_run", [False, True])
def test_dry_run_is_evaluated_like_a_real_request(client: WebhookClient, dry_run: bool) -> None:
    review = admission_review(wrap("Pod", pod_spec()), dry_run=dry_run)
    assert client.review("/validate", review)["allowed"] is False
    safe = admission_review(wrap("Pod", pod_spec(**SAFE)), dry_run=dry_run)
    assert client.review("/validate", safe)["allowed"] is True


def test_v1beta1_is_answered_in_v1beta1(client: WebhookClient) -> None:
    review = admission_review(wrap("Pod", pod_spec()), api_version="admission.k8s.io/v1beta1")
    response = client.review("/validate", review)  # asserts the apiVersion
    assert response["allowed"] is False
    mutated = client.review("/mutate", review)
    assert mutated["patchType"] == "JSONPatch"


def test_warn_and_audit_findings_admit(client: WebhookClient) -> None:
    spec = pod_spec(**SAFE)
    spec["containers"][0]["image"] = "registry.example.com/app:latest"
    response = client.review("/validate", admission_review(wrap("Deployment", spec)))
    assert response["allowed"] is True
    (warning,) = response["warnings"]
    assert warning.startswith(
        "[team-label/team-label] Deployment demo needs a metadata.labels.team"
    )
    annotation = response["auditAnnotations"]["image-tags.no-latest"]
    assert "latest" in annotation


@pytest.mark.parametrize(
    ("namespace", "user"),
    [
        ("kube-system", "alice"),
        (NAMESPACE, "alice"),
        ("default", f"system:serviceaccount:{NAMESPACE}:{SERVICE}"),
    ],
)
def test_excluded_namespaces_and_the_webhook_itself_are_admitted(
    client: WebhookClient, namespace: str, user: str
) -> None:
    review = admission_review(wrap("Pod", pod_spec(), namespace=namespace), user=user)
    assert client.review("/validate", review) == {"uid": review["request"]["uid"], "allowed": True}
    assert decoded_patch(client.review("/mutate", review)) is None


def test_policy_exceptions_apply_until_they_expire(client: WebhookClient) -> None:
    as_root = {"resources": SAFE["resources"], "securityContext": {"runAsUser": 0}}
    excepted = wrap("Pod", pod_spec(**as_root), name="legacy-batch", namespace="legacy")
    assert client.review("/validate", admission_review(excepted))["allowed"] is True
    expired = wrap("Pod", pod_spec(**as_root), name="old-batch", namespace="legacy")
    response = client.review("/validate", admission_review(expired))
    assert response["allowed"] is False
    assert "[workload-baseline/run-as-non-root]" in response["status"]["message"]


def test_namespace_selectors_use_the_labels_of_namespaces_seen(client: WebhookClient) -> None:
    pod = wrap("Pod", pod_spec(**SAFE), namespace="shop-prod")
    before = client.review("/validate", admission_review(pod))
    # shop-prod not seen yet and no API to ask: prod-read-only may apply, and would fail.
    assert before["allowed"] is False
    message = before["status"]["message"]
    assert "[prod-read-only/read-only-root] cannot tell whether this rule applies" in message
    assert f"the labels of namespace shop-prod are unknown ({NOT_SEEN})" in message
    read_only = copy.deepcopy(SAFE)
    read_only["securityContext"]["readOnlyRootFilesystem"] = True
    passing = wrap("Pod", pod_spec(**read_only), namespace="shop-prod")
    assert client.review("/validate", admission_review(passing))["allowed"] is True
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop-prod", "labels": {"env": "prod"}},
    }
    assert client.review("/validate", admission_review(namespace))["allowed"] is True
    after = client.review("/validate", admission_review(pod))
    assert after["allowed"] is False
    assert "[prod-read-only/read-only-root]" in after["status"]["message"]


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_mutation_round_trip(client: WebhookClient, kind: str) -> None:
    spec = pod_spec(resources={"requests": {"cpu": "2"}})
    spec["initContainers"] = [{"name": "setup", "image": "reg.example.com/setup:1"}]
    obj = wrap(kind, spec)
    response = client.review("/mutate", admission_review(obj))
    assert response["allowed"] is True
    operations = decoded_patch(response)
    assert operations is not None
    assert {operation["op"] for operation in operations} == {"add"}
    patched = jsonpatch.apply_patch(obj, operations)
    keys = POD_SPEC_KEYS.get(kind, ["spec", "template", "spec"])
    pod: JSONObject = patched
    for key in keys:
        pod = pod[key]
    app, setup = pod["containers"][0], pod["initContainers"][0]
    assert app["resources"] == {
        "requests": {"cpu": "2", "memory": "128Mi"},  # the author's cpu is kept
        "limits": {"memory": "256Mi"},
    }
    assert app["securityContext"] == {"runAsNonRoot": True, "allowPrivilegeEscalation": False}
    assert setup["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    again = client.review("/mutate", admission_review(patched))
    assert decoded_patch(again) is None
    assert client.review("/validate", admission_review(patched))["allowed"] is True


def test_mutation_leaves_set_fields_alone(client: WebhookClient) -> None:
    container = copy.deepcopy(SAFE)
    container["securityContext"]["allowPrivilegeEscalation"] = True
    del container["resources"]["limits"]
    obj = wrap("Deployment", pod_spec(**container))
    operations = decoded_patch(client.review("/mutate", admission_review(obj)))
    assert operations == [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/resources/limits",
            "value": {"memory": "256Mi"},
        }
    ]


def test_health_readiness_metrics_and_docs(webhook: WebhookServer, client: WebhookClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready == {"status": "ready", "policies": 5}
    client.review("/validate", admission_review(wrap("Pod", pod_spec())))
    text = client.get("/metrics").text
    assert (
        'policy_webhook_requests_total{endpoint="validate",kind="Pod",operation="CREATE",'
        'verdict="denied"}' in text
    )
    assert (
        'policy_webhook_rule_results_total{mode="enforce",policy="workload-baseline",'
        'result="fail",rule="run-as-non-root"}' in text
    )
    assert "policy_webhook_request_duration_seconds_bucket" in text
    assert "policy_webhook_policies_loaded 5.0" in text
    certificate = x509.load_pem_x509_certificate((webhook.certificates / "tls.crt").read_bytes())
    expiry = certificate.not_valid_after_utc.timestamp()
    assert _gauge(text, "policy_webhook_certificate_expiry_timestamp_seconds") == expiry
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/validate", "/mutate", "/healthz", "/readyz", "/metrics"} <= set(paths)


def _gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")


def test_one_json_log_line_per_decision_without_the_object(
    webhook: WebhookServer, client: WebhookClient
) -> None:
    secret = "s3cr3t-value-that-must-not-be-logged"
    spec = pod_spec(env=[{"name": "TOKEN", "value": secret}])
    review = admission_review(wrap("Pod", spec, name="logged"), user="bob", dry_run=True)
    client.review("/validate", review)
    uid = review["request"]["uid"]
    # Decision lines are written a few milliseconds after the answer, with any others.
    deadline = time.monotonic() + 10
    lines: list[dict[str, Any]] = []
    while not lines and time.monotonic() < deadline:
        time.sleep(0.01)
        lines = [json.loads(line) for line in webhook.log_lines() if uid in line]
    (line,) = lines
    assert line["uid"] == uid
    assert (line["kind"], line["namespace"], line["name"]) == ("Pod", "default", "logged")
    assert (line["operation"], line["user"], line["verdict"]) == ("CREATE", "bob", "denied")
    assert line["dry_run"] is True
    assert {"policy": "workload-baseline", "rule": "run-as-non-root", "mode": "enforce"} in line[
        "failed"
    ]
    assert isinstance(line["duration_ms"], float)
    assert all(secret not in text for text in webhook.log_lines())
