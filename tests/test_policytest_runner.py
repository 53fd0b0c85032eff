"""`policy-webhook test`: the shipped suites pass, and broken policies or wrong expectations
fail with a message that says what differs."""

from __future__ import annotations

import shutil
import textwrap
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
import yaml

from tests.conftest import POLICIES
from webhook.cli import main
from webhook.policy.loader import load_policy_set
from webhook.policytest.loader import load_suites
from webhook.policytest.runner import build_request, run_tests

TODAY = date(2026, 6, 1)


def test_every_shipped_suite_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(POLICIES)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "SUITE", "CASE", "POLICY/RULE", "EXPECTED", "ACTUAL", "RESULT"
    ]  # fmt: skip
    assert " FAIL" not in out and "0 failed; 0 errors" in out


def test_every_shipped_rule_has_a_passing_and_a_failing_case() -> None:
    policies = load_policy_set([POLICIES])
    covered: dict[tuple[str, str | None], set[str]] = {}
    for suite in load_suites([POLICIES]).suites:
        for case in suite.cases:
            for expectation in case.spec.expect:
                key = (expectation.policy, expectation.rule)
                covered.setdefault(key, set()).add(expectation.result)
    for policy in policies.policies:
        for rule in policy.rules:
            results = covered.get((policy.name, rule.name), set())
            assert "pass" in results, (policy.name, rule.name)
            assert results & {"fail", "warn"}, (policy.name, rule.name)


def copy_pack(tmp_path: Path, pack: str) -> Path:
    target = tmp_path / pack
    shutil.copytree(POLICIES / pack, target)
    return target


def test_a_broken_policy_fails_its_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = copy_pack(tmp_path, "workloads")
    policy = pack / "resources.yaml"
    policy.write_text(policy.read_text().replace("limits: [memory]", "limits: []"))
    assert main(["test", str(pack)]) == 1
    out = capsys.readouterr().out
    assert "Failures:" in out
    assert "a missing memory limit is denied, a missing cpu limit is not" in out
    assert "require-resources/requests-and-limits: expected fail, got pass" in out
    assert "    -result: fail\n    +result: pass" in out
    # The table row says FAIL too, and the other suites still ran and passed.
    assert any(line.endswith("FAIL") for line in out.splitlines())
    assert "require-non-root" in out


def test_an_invalid_policy_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pack = copy_pack(tmp_path, "secrets")
    policy = pack / "secrets-in-git.yaml"
    policy.write_text(policy.read_text().replace("check: secretsInGit", "check: secretsInGti"))
    assert main(["test", str(pack)]) == 2
    err = capsys.readouterr().err
    assert f"{pack / 'tests' / 'secrets-in-git.yaml'}:6: invalid policy: " in err
    assert (
        f"invalid policy: {policy}:18: rule 'encrypted-in-git': unknown check 'secretsInGti'" in err
    )


SUITE = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyTest
metadata: {name: mistakes}
spec:
  policies: [../../workloads/non-root.yaml]
  cases:
"""
ROOT_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "tools", "namespace": "shop"},
    "spec": {
        "initContainers": [{"name": "setup", "image": "busybox:1.36"}],
        "containers": [{"name": "tools", "image": "busybox:1.36"}],
    },
}


def write_suite(tmp_path: Path, cases: list[dict[str, object]]) -> Path:
    shutil.copytree(POLICIES / "workloads", tmp_path / "workloads", dirs_exist_ok=True)
    folder = tmp_path / "mine" / "tests"
    folder.mkdir(parents=True, exist_ok=True)
    suite = folder / "mistakes.yaml"
    suite.write_text(SUITE + textwrap.indent(yaml.safe_dump(cases, sort_keys=False), "    "))
    return suite


def test_wrong_expectations_show_a_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rule = {"policy": "require-non-root", "rule": "run-as-non-root"}
    suite = write_suite(
        tmp_path,
        [
            {"name": "wrong result", "object": ROOT_POD, "expect": [{**rule, "result": "pass"}]},
            {
                "name": "wrong message",
                "object": ROOT_POD,
                "expect": [{**rule, "result": "fail", "message": "runs as the nobody user"}],
            },
            {
                "name": "wrong paths",
                "object": ROOT_POD,
                "expect": [
                    {**rule, "result": "fail", "paths": ["/spec/containers/0/securityContext"]}
                ],
            },
            {"name": "wrong verdict", "object": ROOT_POD, "allowed": True},
            {"name": "right", "object": ROOT_POD, "expect": [{**rule, "result": "fail"}]},
        ],
    )
    junit = tmp_path / "junit.xml"
    assert main(["test", str(suite), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    failures = out.split("Failures:")[1]
    assert f"mistakes / wrong result ({suite}:7)" in failures
    assert "-result: pass\n    +result: fail" in failures
    assert 'enforce fail: [require-non-root/run-as-non-root] init container "setup"' in failures
    assert "-a message containing: 'runs as the nobody user'" in failures
    assert "expected fail, got fail (other paths)" in failures
    assert "-path: /spec/containers/0/securityContext\n" in failures
    assert "+path: /spec/containers/0/securityContext/runAsNonRoot" in failures
    assert "+path: /spec/initContainers/0/securityContext/runAsNonRoot" in failures
    assert "allowed: expected allowed, got denied" in failures
    assert "right" not in failures
    assert out.rstrip().endswith("5 cases, 5 expectations: 1 passed, 4 failed; 0 errors")

    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "4", "0")
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert cases["right"].find("failure") is None
    failure = cases["wrong paths"].find("failure")
    assert failure is not None and failure.text is not None
    assert "+path: /spec/containers/0/securityContext/runAsNonRoot" in failure.text
    assert cases["wrong result"].get("line") == "7"


def test_unknown_policy_or_rule_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(
        tmp_path,
        [
            {
                "name": "typo in the rule",
                "object": ROOT_POD,
                "expect": [{"policy": "require-non-root", "rule": "non-root", "result": "fail"}],
            },
            {
                "name": "typo in the policy",
                "object": ROOT_POD,
                "expect": [{"policy": "require-nonroot", "result": "fail"}],
            },
        ],
    )
    junit = tmp_path / "junit.xml"
    assert main(["test", str(suite), "--junit", str(junit)]) == 2
    err = capsys.readouterr().err
    line = suite.read_text().splitlines().index("      - policy: require-non-root") + 1
    assert (
        f"{suite}:{line}: case 'typo in the rule': policy 'require-non-root' has no rule "
        "'non-root' (rules: run-as-non-root)" in err
    )
    assert "policy 'require-nonroot' is not among the suite's policies (require-non-root)" in err
    root = ET.parse(junit).getroot()
    assert root.get("errors") == "2"
    assert [error.get("type") for error in root.iter("error")] == ["bad input", "bad input"]


POLICY = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: protected-namespaces}
spec:
  match:
    kinds: [Pod]
    operations: [CREATE, UPDATE, DELETE]
    namespaceSelector: {matchLabels: {env: prod}}
  exclude:
    subjects: {groups: [sre]}
  rules:
    - name: no-changes-by-hand
      expression: "request.operation == 'CREATE' || request.userInfo.username.startsWith('system:')"
      message: "{kind} {name} in a prod namespace changes only through the deploy pipeline"
---
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: migration-window}
spec:
  policies: [{name: protected-namespaces}]
  match: {kinds: [Pod], names: ["migrate-*"]}
  owner: team-data
  reason: schema migration by hand, DATA-17
  expires: 2026-07-01
"""


def test_user_namespace_labels_operations_and_exceptions(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "tests").mkdir()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api", "namespace": "prod"}}
    migrate = {**pod, "metadata": {"name": "migrate-7", "namespace": "prod"}}
    expect = {"policy": "protected-namespaces", "rule": "no-changes-by-hand"}
    prod = {"env": "prod"}
    pass_, fail, skip = ({**expect, "result": r} for r in ("pass", "fail", "skip"))
    sre = {"username": "erin", "groups": ["sre"]}
    cases = [
        {"name": "create", "object": pod, "namespaceLabels": prod, "expect": [pass_]},
        {"name": "delete", "object": pod, "operation": "DELETE", "namespaceLabels": prod,
         "expect": [fail], "allowed": False},
        {"name": "update by sre", "object": pod, "oldObject": pod, "operation": "UPDATE",
         "userInfo": sre, "namespaceLabels": prod, "expect": [skip]},
        {"name": "dev namespace", "object": pod, "operation": "DELETE",
         "namespaceLabels": {"env": "dev"}, "expect": [skip]},
        {"name": "waived", "object": migrate, "operation": "DELETE", "namespaceLabels": prod,
         "expect": [{**expect, "result": "waived", "message": "by hand"}], "allowed": True},
    ]  # fmt: skip
    suite = {
        "apiVersion": "policy-webhook.dev/v1alpha1",
        "kind": "PolicyTest",
        "metadata": {"name": "protected"},
        "spec": {"cases": cases},
    }
    (tmp_path / "tests" / "protected.yaml").write_text(yaml.safe_dump(suite))
    report = run_tests([tmp_path], today=TODAY)
    assert report.errors == []
    assert [(r.case.spec.name, r.passed) for r in report.failed] == []
    assert report.exit_code == 0
    # After the exception expires, the same case fails: the suite says so.
    expired = run_tests([tmp_path], today=date(2026, 7, 2))
    assert [r.case.spec.name for r in expired.failed] == ["waived"]
    # A suite can fix the date its exceptions are judged at.
    suite["spec"]["today"] = "2026-06-30"  # type: ignore[index]
    (tmp_path / "tests" / "protected.yaml").write_text(yaml.safe_dump(suite))
    assert run_tests([tmp_path], today=date(2030, 1, 1)).exit_code == 0


def test_requests_built_from_cases(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        [
            {"name": "ci", "object": ROOT_POD, "allowed": False},
            {"name": "cluster", "via": "webhook", "object": ROOT_POD, "allowed": False},
            {"name": "gone", "object": ROOT_POD, "operation": "DELETE", "allowed": True},
        ],
    )
    ci, cluster, gone = load_suites([suite]).suites[0].cases
    request, offline = build_request(ci)
    assert offline and request.userInfo.username == "policy-webhook:check"
    assert (request.kind.kind, request.namespace, request.name) == ("Pod", "shop", "tools")
    request, offline = build_request(cluster)
    assert not offline and request.userInfo.groups == ["system:authenticated"]
    request, _ = build_request(gone)
    assert request.object is None and request.oldObject == ROOT_POD


MUTATING = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: defaults}
spec:
  match: {kinds: [Pod]}
  mutate:
    - name: default-resources
      defaults:
        containers:
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
"""


def test_patched_objects_are_compared_as_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "defaults.yaml").write_text(MUTATING)
    (tmp_path / "tests").mkdir()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "resources": {"limits": {"cpu": "1"}},
                        }
                    ]
                }
            }
        },
    }
    patched = yaml.safe_load(yaml.safe_dump(deployment))
    patched["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "1", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    wrong = yaml.safe_load(yaml.safe_dump(patched))
    wrong["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "250m"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}  # fmt: skip
    cases = [
        {"name": "defaults fill the gaps", "object": deployment, "patched": patched},
        {"name": "pods are not mutated on update", "object": pod, "oldObject": pod,
         "operation": "UPDATE", "patched": pod},
        {"name": "wrong default", "object": deployment, "patched": wrong},
    ]  # fmt: skip
    suite = {
        "apiVersion": "policy-webhook.dev/v1alpha1",
        "kind": "PolicyTest",
        "metadata": {"name": "defaults"},
        "spec": {"cases": cases},
    }
    (tmp_path / "tests" / "defaults.yaml").write_text(yaml.safe_dump(suite))
    assert main(["test", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    rows = [line.split() for line in out.split("Failures:")[0].splitlines()[1:] if line]
    assert [(row[-3], row[-2], row[-1]) for row in rows] == [
        ("object", "same", "PASS"),
        ("object", "same", "PASS"),
        ("object", "differs", "FAIL"),
    ]
    failures = out.split("Failures:")[1]
    assert "patched: expected patched object, got differs" in failures
    assert "mutations applied: defaults/default-resources" in failures
    assert "--- expected\n    +++ actual" in failures
    assert "-            cpu: 250m\n    +            cpu: 100m" in failures
