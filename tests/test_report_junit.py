from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.reporting import (
    NON_ROOT,
    bad_deployment,
    good_deployment,
    write_manifests,
    write_policies,
)
from webhook.cli import main

COUNTS = ("tests", "failures", "errors", "skipped")


def run_junit(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> ElementTree.Element:
    main(["check", "-o", "junit", *arguments])
    out = capsys.readouterr().out
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(out)


def counts(element: ElementTree.Element) -> dict[str, int]:
    return {name: int(element.attrib[name]) for name in COUNTS}


def test_one_suite_per_file_and_one_case_per_object_and_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_manifests(tmp_path / "a.yaml", bad_deployment("api"), good_deployment("web"))
    second = write_manifests(tmp_path / "b.yaml", bad_deployment("worker"))
    root = run_junit([*write_policies(tmp_path / "p"), str(first), str(second)], capsys)
    suites = root.findall("testsuite")
    assert [suite.attrib["name"] for suite in suites] == [str(first), str(second)]
    # three rules apply to each Deployment
    assert [counts(suite) for suite in suites] == [
        {"tests": 6, "failures": 1, "errors": 0, "skipped": 0},
        {"tests": 3, "failures": 1, "errors": 0, "skipped": 0},
    ]
    assert counts(root) == {"tests": 9, "failures": 2, "errors": 0, "skipped": 0}
    cases = suites[0].findall("testcase")
    assert [(case.attrib["classname"], case.attrib["name"]) for case in cases[:3]] == [
        ("Deployment shop/api", "require-non-root/run-as-non-root"),
        ("Deployment shop/api", "team-rules/team-label"),
        ("Deployment shop/api", "team-rules/read-only-root"),
    ]
    failure = cases[0].find("failure")
    assert failure is not None
    assert 'container "app" may run as root' in failure.attrib["message"]
    assert failure.text is not None and "securityContext/runAsNonRoot" in failure.text
    # warn and audit findings do not fail the case (the exit code is not 1 for them)
    warned = cases[1]
    assert warned.find("failure") is None
    output = warned.find("system-out")
    assert output is not None and output.text is not None
    assert output.text.startswith("WARN: ")


def test_a_bad_file_is_a_suite_with_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = run_junit(["--policies", str(NON_ROOT), str(DATA / "manifests")], capsys)
    [broken] = [
        suite
        for suite in root.findall("testsuite")
        if suite.attrib["name"].endswith("template.yaml")
    ]
    assert counts(broken) == {"tests": 1, "failures": 0, "errors": 1, "skipped": 0}
    error = broken.find("testcase/error")
    assert error is not None
    assert "unhashable key" in error.attrib["message"]
    totals = {name: 0 for name in COUNTS}
    for suite in root.findall("testsuite"):
        for name in COUNTS:
            totals[name] += int(suite.attrib[name])
        assert int(suite.attrib["tests"]) == len(suite.findall("testcase"))
    assert totals == counts(root)
    assert counts(root)["failures"] == 3  # the three guestbook Deployments run as root


def test_rules_that_do_not_apply_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "only-prod.yaml"
    policy.write_text(
        "apiVersion: policy-webhook.dev/v1alpha1\nkind: Policy\nmetadata: {name: prod}\n"
        "spec:\n  match: {kinds: [Deployment]}\n  rules:\n"
        "    - name: non-root\n      check: nonRoot\n"
        "      match: {namespaces: [prod]}\n"
    )
    manifest = write_manifests(tmp_path / "a.yaml", bad_deployment())
    root = run_junit(["--policies", str(policy), str(manifest)], capsys)
    assert counts(root) == {"tests": 1, "failures": 0, "errors": 0, "skipped": 1}


def test_text_that_xml_cannot_carry_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = bad_deployment("api")
    obj["metadata"] = {"name": "api\x01bell", "namespace": "shop"}
    manifest = write_manifests(tmp_path / "a.yaml", obj)
    root = run_junit(["--policies", str(NON_ROOT), str(manifest)], capsys)
    case = root.find("testsuite/testcase")
    assert case is not None
    assert case.attrib["classname"] == "Deployment shop/api\ufffdbell"
