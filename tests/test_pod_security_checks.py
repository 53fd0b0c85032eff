"""The podSecurity/* checks on cases the upstream fixtures leave out: ephemeral containers,
Windows pods, user namespaces, AppArmor fields and annotations, volumes, odd values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import POLICIES
from tests.helpers import request
from webhook.checks import CHECKS
from webhook.engine import build_context, evaluate
from webhook.findings import Violation
from webhook.policy.loader import load_policy_set

JSONObject = dict[str, Any]
APPARMOR = "container.apparmor.security.beta.kubernetes.io/"


def pod(
    *,
    container: JSONObject | None = None,
    annotations: dict[str, str] | None = None,
    ephemeral: JSONObject | None = None,
    **spec: Any,
) -> JSONObject:
    """A Pod with one container `app` (its fields updated by `container`) and `spec` keys."""
    body: JSONObject = {
        "containers": [{"name": "app", "image": "reg.example.com/app:1", **(container or {})}]
    }
    if ephemeral is not None:
        body["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1", **ephemeral}]
    body.update(spec)
    metadata: JSONObject = {"name": "p", "namespace": "default"}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def run(check: str, obj: JSONObject) -> list[Violation]:
    compiled = CHECKS[f"podSecurity/{check}"].build({}, Path("."))
    return list(compiled.run(build_context(request(obj))))


def paths(check: str, obj: JSONObject) -> list[str]:
    return [violation.path for violation in run(check, obj)]


def ctx(**fields: Any) -> JSONObject:
    return {"securityContext": fields}


WINDOWS = {"os": {"name": "windows"}}
C0 = "/spec/containers/0"
E0 = "/spec/ephemeralContainers/0"

CASES: list[tuple[str, JSONObject, list[str]]] = [
    ("hostNamespaces", pod(hostNetwork=False, hostIPC=False), []),
    ("hostNamespaces", pod(hostPID=True), ["/spec/hostPID"]),
    ("hostNamespaces", pod(hostUsers=True), []),
    ("privileged", pod(ephemeral=ctx(privileged=True)), [f"{E0}/securityContext/privileged"]),
    (
        "capabilitiesBaseline",
        pod(container=ctx(capabilities={"add": ["CHOWN", "SYS_ADMIN"]})),
        [f"{C0}/securityContext/capabilities/add/1"],
    ),
    (
        "capabilitiesBaseline",
        pod(hostUsers=False, container=ctx(capabilities={"add": ["NET_ADMIN"]})),
        [f"{C0}/securityContext/capabilities/add/0"],
    ),
    ("hostPathVolumes", pod(volumes=[{"name": "v", "hostPath": None, "emptyDir": {}}]), []),
    ("hostPorts", pod(container={"ports": [{"containerPort": 80, "hostPort": 0}]}), []),
    (
        "hostPorts",
        pod(ephemeral={"ports": [{"containerPort": 80, "hostPort": 8080}]}),
        [f"{E0}/ports/0/hostPort"],
    ),
    (
        "appArmorProfile",
        pod(securityContext={"appArmorProfile": {"type": "Unconfined"}}),
        ["/spec/securityContext/appArmorProfile/type"],
    ),
    (
        "appArmorProfile",
        pod(
            securityContext={"appArmorProfile": {"type": "RuntimeDefault"}},
            container=ctx(appArmorProfile={"type": "Localhost", "localhostProfile": "k8s-x"}),
        ),
        [],
    ),
    (
        "appArmorProfile",
        pod(ephemeral=ctx(appArmorProfile={"type": "Unconfined"})),
        [f"{E0}/securityContext/appArmorProfile/type"],
    ),
    (
        "appArmorProfile",
        pod(container=ctx(appArmorProfile={})),
        [f"{C0}/securityContext/appArmorProfile/type"],
    ),
    (
        "appArmorProfile",
        pod(
            annotations={
                f"{APPARMOR}a": "runtime/default",
                f"{APPARMOR}b": "localhost/k8s-x",
                f"{APPARMOR}c": "",
                "other.example.com/app": "unconfined",
            }
        ),
        [],
    ),
    (
        "appArmorProfile",
        pod(annotations={f"{APPARMOR}app": "unconfined"}),
        [f"/metadata/annotations/{APPARMOR.replace('/', '~1')}app"],
    ),
    (
        "seLinuxOptions",
        pod(container=ctx(seLinuxOptions={"type": "container_engine_t", "level": "s0:c1,c2"})),
        [],
    ),
    (
        "seLinuxOptions",
        pod(ephemeral=ctx(seLinuxOptions={"type": "spc_t", "user": "system_u"})),
        [f"{E0}/securityContext/seLinuxOptions/type", f"{E0}/securityContext/seLinuxOptions/user"],
    ),
    ("procMount", pod(hostUsers=False, container=ctx(procMount="Unmasked")), []),
    ("procMount", pod(container=ctx(procMount="Unmasked")), [f"{C0}/securityContext/procMount"]),
    (
        "procMountRestricted",
        pod(hostUsers=False, container=ctx(procMount="Unmasked")),
        [f"{C0}/securityContext/procMount"],
    ),
    ("procMountRestricted", pod(container=ctx(procMount="Default")), []),
    (
        "seccompProfileBaseline",
        pod(ephemeral=ctx(seccompProfile={"type": "Unconfined"})),
        [f"{E0}/securityContext/seccompProfile/type"],
    ),
    ("seccompProfileBaseline", pod(container=ctx(seccompProfile={"type": "Localhost"})), []),
    (
        "sysctls",
        pod(
            securityContext={
                "sysctls": [
                    {"name": "net.ipv4.tcp_keepalive_time", "value": "60"},
                    {"name": "kernel.msgmax", "value": "1"},
                    {"name": "net.ipv4.ip_local_reserved_ports", "value": "30000"},
                ]
            }
        ),
        ["/spec/securityContext/sysctls/1/name"],
    ),
    (
        "windowsHostProcess",
        pod(ephemeral=ctx(windowsOptions={"hostProcess": True})),
        [f"{E0}/securityContext/windowsOptions/hostProcess"],
    ),
    ("windowsHostProcess", pod(securityContext={"windowsOptions": {"hostProcess": False}}), []),
    (
        "hostProbesAndHostLifecycle",
        pod(
            container={
                "startupProbe": {"httpGet": {"host": "", "port": 80}},
                "lifecycle": {"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 80}}},
            },
            ephemeral={"readinessProbe": {"httpGet": {"host": "example.com", "port": 80}}},
        ),
        [f"{C0}/lifecycle/preStop/tcpSocket/host", f"{E0}/readinessProbe/httpGet/host"],
    ),
    (
        "restrictedVolumes",
        pod(
            volumes=[
                {"name": "defaulted-to-emptydir"},
                {"name": "img", "image": {"reference": "reg.example.com/data:1"}},
                {"name": "csi", "csi": {"driver": "x"}},
                {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            ]
        ),
        [],
    ),
    (
        "restrictedVolumes",
        pod(volumes=[{"name": "a", "hostPath": {"path": "/"}}, {"name": "b", "futureVolume": {}}]),
        ["/spec/volumes/0/hostPath", "/spec/volumes/1/futureVolume"],
    ),
    ("allowPrivilegeEscalation", pod(**WINDOWS), []),
    (
        "allowPrivilegeEscalation",
        pod(container=ctx(allowPrivilegeEscalation=False), ephemeral={}),
        [f"{E0}/securityContext/allowPrivilegeEscalation"],
    ),
    ("runAsNonRoot", pod(hostUsers=False), []),
    ("runAsNonRoot", pod(container=ctx(runAsUser=1000)), [f"{C0}/securityContext/runAsNonRoot"]),
    (
        "runAsNonRoot",
        pod(securityContext={"runAsNonRoot": False}, container=ctx(runAsNonRoot=True)),
        ["/spec/securityContext/runAsNonRoot"],
    ),
    (
        "runAsNonRoot",
        pod(securityContext={"runAsNonRoot": True}, ephemeral=ctx(runAsNonRoot=False)),
        [f"{E0}/securityContext/runAsNonRoot"],
    ),
    ("runAsUser", pod(hostUsers=False, securityContext={"runAsUser": 0}), []),
    (
        "runAsUser",
        pod(securityContext={"runAsUser": 0}, container=ctx(runAsUser=1000)),
        ["/spec/securityContext/runAsUser"],
    ),
    ("runAsUser", pod(container=ctx(runAsUser=1000, runAsGroup=0)), []),
    ("seccompProfileRestricted", pod(**WINDOWS), []),
    (
        "seccompProfileRestricted",
        pod(
            securityContext={"seccompProfile": {"type": "Unconfined"}},
            container=ctx(seccompProfile={"type": "RuntimeDefault"}),
        ),
        ["/spec/securityContext/seccompProfile/type"],
    ),
    (
        "seccompProfileRestricted",
        pod(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}, ephemeral={}),
        [],
    ),
    ("capabilitiesRestricted", pod(**WINDOWS), []),
    (
        "capabilitiesRestricted",
        pod(container=ctx(capabilities={"drop": ["all"]})),
        [f"{C0}/securityContext/capabilities/drop"],
    ),
    (
        "capabilitiesRestricted",
        pod(container=ctx(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "CHOWN"]})),
        [f"{C0}/securityContext/capabilities/add/1"],
    ),
]


@pytest.mark.parametrize(("check", "obj", "expected"), CASES)
def test_control(check: str, obj: JSONObject, expected: list[str]) -> None:
    assert paths(check, obj) == expected


# One violation per check: the message names the container, the field path and the fix.
MESSAGES: list[tuple[str, JSONObject, list[str]]] = [
    ("privileged", pod(container=ctx(privileged=True)), ['container "app"', "false"]),
    (
        "capabilitiesBaseline",
        pod(container=ctx(capabilities={"add": ["NET_RAW"]})),
        ["NET_RAW", "SYS_CHROOT"],
    ),
    (
        "procMount",
        pod(ephemeral=ctx(procMount="Unmasked")),
        ['ephemeral container "debug"', "Default"],
    ),
    (
        "seLinuxOptions",
        pod(container=ctx(seLinuxOptions={"type": "spc_t"})),
        ["spc_t", "container_t"],
    ),
    (
        "sysctls",
        pod(securityContext={"sysctls": [{"name": "vm.swappiness"}]}),
        ["kernel.shm_rmid_forced"],
    ),
    (
        "restrictedVolumes",
        pod(volumes=[{"name": "n", "nfs": {}}]),
        ['"n"', "nfs", "persistentVolumeClaim"],
    ),
    ("seccompProfileRestricted", pod(), ['container "app"', "RuntimeDefault", "Localhost"]),
    ("capabilitiesRestricted", pod(), ['container "app"', '["ALL"]']),
    ("allowPrivilegeEscalation", pod(), ['container "app"', "allowPrivilegeEscalation: false"]),
    ("runAsNonRoot", pod(), ['container "app"', "runAsNonRoot: true"]),
]


@pytest.mark.parametrize(("check", "obj", "words"), MESSAGES)
def test_message_names_container_field_and_fix(
    check: str, obj: JSONObject, words: list[str]
) -> None:
    (violation,) = run(check, obj)
    assert violation.path.startswith("/spec/")
    assert violation.path not in violation.message  # the path travels beside the message
    for word in words:
        assert word in violation.message


def test_cronjob_paths_reach_the_template() -> None:
    spec = pod(container=ctx(privileged=True), annotations={f"{APPARMOR}app": "unconfined"})
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {"template": {"metadata": spec["metadata"], "spec": spec["spec"]}}
            },
        },
    }
    base = "/spec/jobTemplate/spec/template"
    assert paths("privileged", cron) == [f"{base}/spec/containers/0/securityContext/privileged"]
    assert paths("appArmorProfile", cron) == [
        f"{base}/metadata/annotations/{APPARMOR.replace('/', '~1')}app"
    ]


def shipped_rules() -> dict[str, list[tuple[str, str]]]:
    rules: dict[str, list[tuple[str, str]]] = {}
    for name in ("baseline.yaml", "restricted.yaml"):
        document = yaml.safe_load((POLICIES / "pod-security" / name).read_text())
        assert document["metadata"]["annotations"]["policy-webhook.dev/description"]
        assert document["spec"]["mode"] == "enforce"
        assert document["spec"]["match"] == {"kinds": ["Pod"]}
        assert document["spec"]["exclude"] == {"namespaces": ["kube-system"]}
        rules[document["metadata"]["name"]] = [
            (rule["name"], rule["check"]) for rule in document["spec"]["rules"]
        ]
    return rules


def test_policies_have_one_rule_per_control() -> None:
    rules = shipped_rules()
    checks = [check for entries in rules.values() for _, check in entries]
    assert sorted(checks) == sorted(name for name in CHECKS if name.startswith("podSecurity/"))
    assert len(rules["pod-security-baseline"]) == 12
    assert len(rules["pod-security-restricted"]) == 7


def test_kube_system_is_excluded() -> None:
    policies = load_policy_set([POLICIES / "pod-security"])
    privileged = pod(container=ctx(privileged=True))
    assert any(finding.failed for finding in evaluate(request(privileged), policies))
    privileged["metadata"]["namespace"] = "kube-system"
    assert evaluate(request(privileged), policies) == []


def test_non_pod_objects_are_skipped() -> None:
    policies = load_policy_set([POLICIES / "pod-security"])
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
    }
    assert evaluate(request(config), policies) == []


# Any JSON value where a pod spec has structure: the checks report or pass, never crash.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "securityContext",
        "capabilities",
        "add",
        "drop",
        "ports",
        "hostPort",
        "seLinuxOptions",
        "seccompProfile",
        "appArmorProfile",
        "type",
        "livenessProbe",
        "lifecycle",
        "httpGet",
        "host",
        "volumes",
        "sysctls",
        "name",
        "os",
        "hostUsers",
        "windowsOptions",
        "runAsNonRoot",
        "runAsUser",
        "procMount",
    ]
)
SHAPES = st.dictionaries(
    FIELDS, JSON_VALUES | st.dictionaries(FIELDS, JSON_VALUES, max_size=4), max_size=6
)


@given(
    spec=SHAPES,
    container=SHAPES,
    annotations=st.dictionaries(st.text(max_size=50), JSON_VALUES, max_size=3),
)
@settings(max_examples=150, deadline=None)
def test_any_shape_is_checked_without_crashing(
    spec: JSONObject, container: JSONObject, annotations: JSONObject
) -> None:
    obj = pod(container=container, **spec)
    obj["metadata"]["annotations"] = {
        f"{APPARMOR}{key}": value for key, value in annotations.items()
    }
    for name in CHECKS:
        if name.startswith("podSecurity/"):
            for violation in run(name.removeprefix("podSecurity/"), obj):
                assert violation.path.startswith(("/spec/", "/metadata/"))
