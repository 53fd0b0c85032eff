"""deploy/: the Kustomize base and the cert-manager overlay, rendered with kubectl kustomize."""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import POLICIES, REPOSITORY
from tests.kustomize import JSONObject, by_kind, one, render
from webhook import settings
from webhook.cli import build_parser
from webhook.engine import build_context, evaluate, matching_policies
from webhook.findings import Result
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set, policy_files
from webhook.review import request_for_manifest

DEPLOY = REPOSITORY / "deploy"
OVERLAY = DEPLOY / "overlays" / "cert-manager"
NAMESPACE = "policy-webhook"
# The most the API server can spend in this webhook on one request; see deploy/base/webhooks.yaml.
BUDGET_SECONDS = 7
LEADER_ELECTION_RENEW_DEADLINE_SECONDS = 10
# (group, kind) -> resource, for every kind a shipped policy may select.
RESOURCES = {
    ("", "Pod"): "pods",
    ("", "PodTemplate"): "podtemplates",
    ("", "ReplicationController"): "replicationcontrollers",
    ("apps", "Deployment"): "deployments",
    ("apps", "ReplicaSet"): "replicasets",
    ("apps", "StatefulSet"): "statefulsets",
    ("apps", "DaemonSet"): "daemonsets",
    ("batch", "Job"): "jobs",
    ("batch", "CronJob"): "cronjobs",
}


@pytest.fixture(scope="module")
def base() -> list[JSONObject]:
    return render(DEPLOY)


@pytest.fixture(scope="module")
def overlay() -> list[JSONObject]:
    return render(OVERLAY)


@pytest.fixture(scope="module")
def shipped() -> PolicySet:
    return load_policy_set([POLICIES])


def pod_spec(objects: list[JSONObject]) -> JSONObject:
    spec: JSONObject = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: list[JSONObject]) -> JSONObject:
    containers = pod_spec(objects)["containers"]
    assert len(containers) == 1
    found: JSONObject = containers[0]
    return found


def webhooks(objects: list[JSONObject]) -> list[tuple[str, JSONObject]]:
    return [
        (configuration["kind"], webhook)
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
        for configuration in by_kind(objects, kind)
        for webhook in configuration["webhooks"]
    ]


def test_base_renders_every_part(base: list[JSONObject]) -> None:
    kinds = sorted(obj["kind"] for obj in base)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "MutatingWebhookConfiguration",
            "Namespace",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "ResourceQuota",
            "Service",
            "ServiceAccount",
            "ValidatingWebhookConfiguration",
        ]
    )
    cluster_scoped = {"Namespace", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
    for obj in base:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]


def test_namespace_enforces_the_restricted_pod_security_standard(base: list[JSONObject]) -> None:
    labels = one(base, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_deployment_is_highly_available(base: list[JSONObject]) -> None:
    deployment = one(base, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    affinity = pod_spec(base)["affinity"]["podAntiAffinity"]
    terms = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    budget = one(base, "PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["maxUnavailable"] < deployment["spec"]["replicas"]


def test_quota_admits_the_deployments_priority_class(base: list[JSONObject]) -> None:
    priority = pod_spec(base)["priorityClassName"]
    quota = one(base, "ResourceQuota")["spec"]
    (scope,) = quota["scopeSelector"]["matchExpressions"]
    assert (scope["scopeName"], scope["operator"], scope["values"]) == (
        "PriorityClass",
        "In",
        [priority],
    )
    assert int(quota["hard"]["pods"]) >= one(base, "Deployment")["spec"]["replicas"] + 1


def test_container_is_hardened(base: list[JSONObject]) -> None:
    spec = pod_spec(base)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    context = container(base)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] > 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_container_has_resources_probes_and_a_writable_tmp(base: list[JSONObject]) -> None:
    webhook = container(base)
    assert {"cpu", "memory"} <= webhook["resources"]["requests"].keys()
    assert "memory" in webhook["resources"]["limits"]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        action = webhook[probe]["httpGet"]
        assert (action["path"], action["scheme"], action["port"]) == (path, "HTTPS", "https")
    mounts = {mount["mountPath"]: mount["name"] for mount in webhook["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec(base)["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert {"name": "TMPDIR", "value": "/tmp"} in webhook["env"]
    for mount in webhook["volumeMounts"]:
        assert "subPath" not in mount  # subPath mounts never see ConfigMap or Secret updates


def test_server_arguments_point_at_the_mounted_files(base: list[JSONObject]) -> None:
    webhook = container(base)
    arguments = webhook["args"]
    options = dict(zip(arguments[::2], arguments[1::2], strict=True))
    assert settings.from_arguments(
        build_parser().parse_args(["serve", *arguments]), {}
    ).tls_cert == Path(options["--tls-cert"])
    mounts = {mount["name"]: mount["mountPath"] for mount in webhook["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec(base)["volumes"]}
    assert options["--policies"] == mounts["policies"]
    configmap = one(base, "ConfigMap")["metadata"]["name"]
    assert volumes["policies"]["configMap"]["name"] == configmap
    assert options["--tls-cert"] == f"{mounts['tls']}/tls.crt"
    assert options["--tls-key"] == f"{mounts['tls']}/tls.key"
    ports = {port["name"]: port["containerPort"] for port in webhook["ports"]}
    assert int(options["--port"]) == ports["https"]


def test_image_tag_is_the_package_version(base: list[JSONObject]) -> None:
    from webhook import __version__

    assert container(base)["image"] == f"policy-webhook:{__version__}"


def test_service_routes_to_the_webhook_port(base: list[JSONObject]) -> None:
    service = one(base, "Service")["spec"]
    pod_labels = one(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pod_labels.items()
    assert service["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]


def test_network_policy_admits_only_the_webhook_port(base: list[JSONObject]) -> None:
    policy = one(base, "NetworkPolicy")["spec"]
    pod_labels = one(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    ports = [port for rule in policy["ingress"] for port in rule["ports"]]
    assert ports == [{"port": "https", "protocol": "TCP"}]


def test_webhooks_never_lock_the_cluster_out(base: list[JSONObject]) -> None:
    service = one(base, "Service")
    found = webhooks(base)
    assert sorted(kind for kind, _ in found) == [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ]
    for kind, webhook in found:
        assert webhook["sideEffects"] == "None"
        assert webhook["admissionReviewVersions"] == ["v1"]
        assert webhook["matchPolicy"] == "Equivalent"
        assert webhook["failurePolicy"] in ("Fail", "Ignore")
        assert webhook["namespaceSelector"] == {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": ["kube-system", NAMESPACE],
                }
            ]
        }
        target = webhook["clientConfig"]["service"]
        assert target["name"] == service["metadata"]["name"]
        assert target["namespace"] == service["metadata"]["namespace"]
        assert target["port"] == service["spec"]["ports"][0]["port"]
        expected_path = "/mutate" if kind.startswith("Mutating") else "/validate"
        assert target["path"] == expected_path
        for rule in webhook["rules"]:
            assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            assert rule["scope"] == "Namespaced"


def test_validation_fails_closed_and_mutation_fails_open(base: list[JSONObject]) -> None:
    policies = {kind: webhook["failurePolicy"] for kind, webhook in webhooks(base)}
    assert policies == {
        "MutatingWebhookConfiguration": "Ignore",
        "ValidatingWebhookConfiguration": "Fail",
    }


def test_time_budget_stays_under_the_leader_election_deadline(base: list[JSONObject]) -> None:
    total = 0
    for _, webhook in webhooks(base):
        calls = 2 if webhook.get("reinvocationPolicy") == "IfNeeded" else 1
        total += calls * webhook["timeoutSeconds"]
    assert total <= BUDGET_SECONDS < LEADER_ELECTION_RENEW_DEADLINE_SECONDS


def test_server_deadline_is_below_every_webhook_timeout(base: list[JSONObject]) -> None:
    arguments = container(base)["args"]
    deadline = float(arguments[arguments.index("--timeout-seconds") + 1])
    assert deadline < min(webhook["timeoutSeconds"] for _, webhook in webhooks(base))


def test_server_knows_its_own_namespace_and_service_account(base: list[JSONObject]) -> None:
    env = {item["name"]: item.get("valueFrom") for item in container(base)["env"]}
    assert env["POLICY_WEBHOOK_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POLICY_WEBHOOK_SERVICE_ACCOUNT"] == {
        "fieldRef": {"fieldPath": "spec.serviceAccountName"}
    }


def covered(webhook: JSONObject) -> set[tuple[str, str, str]]:
    """(group, resource, operation) triples the webhook's rules send to the server."""
    return {
        (group, resource, operation)
        for rule in webhook["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for operation in rule["operations"]
    }


def needed(shipped: PolicySet, *, mutating: bool) -> set[tuple[str, str, str]]:
    """(group, resource, operation) triples the shipped policies need the webhook to see."""
    triples: set[tuple[str, str, str]] = set()
    for policy in shipped.policies:
        if mutating and not policy.mutations:
            continue
        if not mutating and all(rule.check.offline_only for rule in policy.rules):
            continue  # evaluated by `check` only (manifests in Git), skipped by the webhook
        assert policy.match.kinds, f"policy {policy.name} matches every kind"
        for pattern in policy.match.kinds:
            kinds = [(group, kind) for group, kind in RESOURCES if pattern.matches(group, kind)]
            assert kinds, (
                f"policy {policy.name} selects {pattern}: add its resource to the rules in "
                "deploy/base/webhooks.yaml and to RESOURCES in this test"
            )
            for group, kind in kinds:
                resource = RESOURCES[(group, kind)]
                for operation in policy.match.operations or ("CREATE", "UPDATE"):
                    triples.add((group, resource, operation))
                    for subresource in policy.match.subresources:
                        triples.add((group, f"{resource}/{subresource}", operation))
    return triples


@pytest.mark.parametrize("kind", ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"])
def test_rules_cover_every_kind_the_shipped_policies_select(
    base: list[JSONObject], shipped: PolicySet, kind: str
) -> None:
    (webhook,) = [webhook for found, webhook in webhooks(base) if found == kind]
    missing = needed(shipped, mutating=kind.startswith("Mutating")) - covered(webhook)
    assert not missing, f"deploy/base/webhooks.yaml {kind} misses {sorted(missing)}"


def test_policies_configmap_holds_every_shipped_policy_file(base: list[JSONObject]) -> None:
    data = one(base, "ConfigMap")["data"]
    files = {
        ".".join(file.relative_to(POLICIES).parts): file.read_text(encoding="utf-8")
        for file in policy_files([POLICIES])
    }
    assert sorted(data) == sorted(files), "run `make policies-kustomization`"
    assert data == files


def test_policies_configmap_loads_as_the_shipped_set(
    base: list[JSONObject], shipped: PolicySet, tmp_path: Path
) -> None:
    # The mounted ConfigMap is one flat folder: it must load to the same policies.
    for key, text in one(base, "ConfigMap")["data"].items():
        (tmp_path / key).write_text(text, encoding="utf-8")
    assert sorted(load_policy_set([tmp_path]).names()) == sorted(shipped.names())


def test_policies_kustomization_is_up_to_date() -> None:
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "scripts" / "policies_kustomization.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def run_check(objects: list[JSONObject], directory: Path) -> subprocess.CompletedProcess[str]:
    rendered = directory / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(objects), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "webhook", "check", "--policies", str(POLICIES), str(rendered)],
        capture_output=True,
        text=True,
        check=False,
        cwd=directory,
    )


def test_rendered_base_passes_the_shipped_policies(base: list[JSONObject], tmp_path: Path) -> None:
    completed = run_check(base, tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # Only the digest pin (audit) is open: the release sets it, see the next test.
    assert "0 denied, 0 warnings, 1 audit" in completed.stdout, completed.stdout
    assert "[image-references/pinned-by-digest]" in completed.stdout


def test_base_with_the_image_pinned_by_digest_has_no_findings(tmp_path: Path) -> None:
    # What a release does: `kustomize edit set image policy-webhook@sha256:...` in an overlay.
    digest = "sha256:" + hashlib.sha256(b"policy-webhook image").hexdigest()
    overlay = tmp_path / "release"
    overlay.mkdir()
    kustomization = {
        "resources": [os.path.relpath(DEPLOY, overlay)],
        "images": [{"name": "policy-webhook", "digest": digest}],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    objects = render(overlay)
    assert container(objects)["image"] == f"policy-webhook@{digest}"
    completed = run_check(objects, tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"{len(objects)} objects in 1 files: 0 with findings" in completed.stdout


def test_webhook_deployment_passes_every_policy_outside_its_own_namespace(
    base: list[JSONObject], shipped: PolicySet
) -> None:
    # Its own namespace may be excluded by a policy; moved elsewhere, every policy must apply
    # to it and pass (the image digest is set as a release would).
    deployment = copy.deepcopy(one(base, "Deployment"))
    deployment["metadata"]["namespace"] = "team-a"
    pod = deployment["spec"]["template"]["spec"]
    pod["containers"][0]["image"] = "policy-webhook@sha256:" + "0" * 64
    request = request_for_manifest(deployment)
    applied = matching_policies(build_context(request), shipped)
    assert {"require-non-root", "pod-security-restricted"} <= {policy.name for policy in applied}
    findings = evaluate(request, shipped, namespace_labels={}, offline=True)
    assert [finding for finding in findings if finding.failed] == []
    for policy in applied:
        results = {finding.result for finding in findings if finding.policy == policy.name}
        assert Result.PASS in results, policy.name


def test_overlay_issues_the_serving_certificate(
    base: list[JSONObject], overlay: list[JSONObject]
) -> None:
    certificates = {obj["metadata"]["name"]: obj for obj in by_kind(overlay, "Certificate")}
    issuers = {obj["metadata"]["name"]: obj for obj in by_kind(overlay, "Issuer")}
    tls_secret = next(
        volume["secret"]["secretName"]
        for volume in pod_spec(overlay)["volumes"]
        if volume["name"] == "tls"
    )
    (serving,) = [c for c in certificates.values() if c["spec"]["secretName"] == tls_secret]
    service = one(overlay, "Service")["metadata"]
    name, namespace = service["name"], service["namespace"]
    assert set(serving["spec"]["dnsNames"]) == {
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.cluster.local",
    }
    assert "server auth" in serving["spec"]["usages"]
    ca_issuer = issuers[serving["spec"]["issuerRef"]["name"]]
    ca_secret = ca_issuer["spec"]["ca"]["secretName"]
    (ca,) = [c for c in certificates.values() if c["spec"]["secretName"] == ca_secret]
    assert ca["spec"]["isCA"] is True
    assert "selfSigned" in issuers[ca["spec"]["issuerRef"]["name"]]["spec"]
    for obj in [*by_kind(overlay, "Certificate"), *by_kind(overlay, "Issuer")]:
        assert obj["metadata"]["namespace"] == namespace
    reference = f"{namespace}/{serving['metadata']['name']}"
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        annotations = one(overlay, kind)["metadata"]["annotations"]
        assert annotations == {"cert-manager.io/inject-ca-from": reference}


def test_overlay_changes_nothing_else(base: list[JSONObject], overlay: list[JSONObject]) -> None:
    added = {"Certificate", "Issuer"}
    stripped = []
    for obj in overlay:
        if obj["kind"] in added:
            continue
        obj = copy.deepcopy(obj)
        obj["metadata"].pop("annotations", None)
        stripped.append(obj)
    assert sorted(map(yaml.safe_dump, stripped)) == sorted(map(yaml.safe_dump, base))
    for _, webhook in webhooks(overlay):  # the CA injector fills caBundle in the cluster
        assert "caBundle" not in webhook["clientConfig"]
