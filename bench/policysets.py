"""The three policy sets of the benchmarks, written as policy files into a directory.

- `trivial`: one policy with one CEL rule on Pods (and so on every pod template);
- `pss`: the shipped Pod Security pack (policies/pod-security: baseline + restricted, the 17
  controls in 19 rules);
- `100`: the Pod Security pack, the shipped workload and secret policies, and generated
  policies spread over many kinds (CEL rules and built-in checks on ConfigMaps, Services,
  Ingresses, RBAC, custom resources...), 100 policies in all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SHIPPED = REPOSITORY / "policies"
SETS = ("trivial", "pss", "100")
TOTAL = 100

TRIVIAL = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: trivial}
spec:
  mode: enforce
  match: {kinds: [Pod]}
  rules:
    - name: named
      expression: "object.metadata.name.size() <= 253"
      message: "{kind} {name}: the name is longer than 253 characters"
"""

LABELLED = "has(object.metadata.labels) && '%s' in object.metadata.labels"
# (kinds, CEL expression, message): the generated policies cycle through these templates.
TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("ConfigMap", LABELLED, "{kind} {name} needs the label %s"),
    (
        "ConfigMap",
        "!has(object.data) || object.data.size() <= 200",
        "{kind} {name}: at most 200 keys",
    ),
    ("Secret", LABELLED, "{kind} {name} needs the label %s"),
    ("Secret", "!has(object.type) || object.type != 'kubernetes.io/basic-auth'", "no basic-auth"),
    (
        "Service",
        "object.spec.type != 'NodePort'",
        "{kind} {name}: NodePort Services are not allowed",
    ),
    (
        "Service",
        "object.spec.type != 'LoadBalancer' || object.metadata.namespace == 'edge'",
        "{kind} {name}: LoadBalancers only in edge",
    ),
    ("Service", LABELLED, "{kind} {name} needs the label %s"),
    (
        "networking.k8s.io/Ingress",
        "has(object.spec.tls) && object.spec.tls.size() > 0",
        "{kind} {name} must serve TLS",
    ),
    (
        "networking.k8s.io/Ingress",
        "object.spec.rules.all(r, has(r.host) && r.host.endsWith('.example.com'))",
        "{kind} {name}: hosts under example.com only",
    ),
    ("Namespace", LABELLED, "{kind} {name} needs the label %s"),
    (
        "Deployment",
        "object.spec.replicas >= 2 || object.metadata.namespace == 'batch'",
        "{kind} {name}: run at least 2 replicas",
    ),
    ("Deployment", LABELLED, "{kind} {name} needs the label %s"),
    ("StatefulSet", LABELLED, "{kind} {name} needs the label %s"),
    (
        "cert-manager.io/Certificate",
        "object.spec.privateKey.algorithm == 'ECDSA'",
        "{kind} {name}: ECDSA keys",
    ),
    ("cert-manager.io/Issuer", "!has(object.spec.selfSigned)", "{kind} {name}: no self-signed"),
    ("networking.k8s.io/NetworkPolicy", "object.spec.policyTypes.size() > 0", "types"),
    (
        "rbac.authorization.k8s.io/Role",
        "object.rules.all(r, !r.verbs.exists(v, v == '*'))",
        "{kind} {name}: no wildcard verbs",
    ),
    (
        "rbac.authorization.k8s.io/ClusterRoleBinding",
        "object.roleRef.name != 'cluster-admin'",
        "{kind} {name}: no cluster-admin bindings",
    ),
    ("PersistentVolumeClaim", "object.spec.storageClassName != 'local'", "no local storage"),
    ("autoscaling/HorizontalPodAutoscaler", "object.spec.maxReplicas <= 50", "at most 50"),
    ("policy/PodDisruptionBudget", "has(object.spec.minAvailable)", "minAvailable"),
    (
        "ServiceAccount",
        "!has(object.automountServiceAccountToken) || !object.automountServiceAccountToken",
        "no automount",
    ),
    ("gateway.networking.k8s.io/HTTPRoute", LABELLED, "{kind} {name} needs the label %s"),
    ("monitoring.coreos.com/ServiceMonitor", LABELLED, "{kind} {name} needs the label %s"),
    ("argoproj.io/Application", "object.spec.project != 'default'", "no default project"),
    ("Pod", "!has(object.spec.hostAliases)", "{kind} {name}: no hostAliases"),
)
BUILT_IN = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: %(name)s}
spec:
  mode: %(mode)s
  match: {kinds: [Pod], namespaces: [%(namespace)s]}
  rules:
    - name: allowed-registries
      check: images
      with: {allowLatest: true, registries: [registry.example.com]}
"""


def write_policy_set(name: str, directory: Path) -> Path:
    """Write the set `name` (one of SETS) into `directory`; returns the path to load."""
    directory.mkdir(parents=True, exist_ok=True)
    if name == "trivial":
        (directory / "trivial.yaml").write_text(TRIVIAL)
        return directory
    shutil.copytree(SHIPPED / "pod-security", directory / "pod-security", dirs_exist_ok=True)
    if name == "pss":
        return directory
    if name != "100":
        raise ValueError(f"unknown policy set {name!r}; one of {', '.join(SETS)}")
    for pack in ("workloads", "secrets"):
        shutil.copytree(SHIPPED / pack, directory / pack, dirs_exist_ok=True)
    shipped = sum(1 for _ in directory.rglob("*.yaml") if "tests" not in _.parts)
    generated = [_generated(index) for index in range(TOTAL - shipped)]
    (directory / "generated.yaml").write_text("---\n".join(generated))
    return directory


def _generated(index: int) -> str:
    if index % 12 == 11:
        namespace = ("shop", "payments", "search", "web")[index % 4]
        mode = ("enforce", "warn", "audit")[index % 3]
        return BUILT_IN % {"name": f"registries-{index}", "mode": mode, "namespace": namespace}
    kind, expression, message = TEMPLATES[index % len(TEMPLATES)]
    label = ("team", "owner", "cost-center", "app.kubernetes.io/name")[index // len(TEMPLATES) % 4]
    if "%s" in expression:
        expression, message = expression % label, message % label
    mode = ("enforce", "warn", "audit")[index % 3]
    return (
        "apiVersion: policy-webhook.dev/v1alpha1\n"
        "kind: Policy\n"
        f"metadata: {{name: generated-{index}}}\n"
        "spec:\n"
        f"  mode: {mode}\n"
        f"  match: {{kinds: [{kind}]}}\n"
        "  rules:\n"
        f"    - name: rule-{index}\n"
        f"      expression: {_quoted(expression)}\n"
        f"      message: {_quoted(message)}\n"
    )


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
