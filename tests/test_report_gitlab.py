from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import DATA
from tests.reporting import bad_deployment, good_deployment, write_manifests, write_policies
from webhook.cli import main

SCHEMA = json.loads((DATA / "gitlab" / "sast-report-requirements.schema.json").read_text())

EXPIRED = """
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: lapsed}
spec:
  policies: [{name: require-non-root}]
  match: {kinds: [Deployment], namespaces: [shop]}
  owner: team-shop
  reason: migration finished
  expires: 2001-01-01
"""


def run_gitlab(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main(["check", "-o", "gitlab-sast", *arguments])
    report = json.loads(capsys.readouterr().out)
    jsonschema.Draft7Validator(SCHEMA).validate(report)
    return code, report


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_each_failed_finding_is_a_vulnerability_at_its_line(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifests(
        workspace / "deploy" / "all.yaml", good_deployment(), bad_deployment()
    )
    code, report = run_gitlab([*write_policies(workspace / "p"), "deploy/all.yaml"], capsys)
    assert code == 1
    scan = report["scan"]
    assert scan["status"] == "success"
    assert scan["analyzer"]["id"] == scan["scanner"]["id"] == "policy-webhook"
    assert scan["start_time"] <= scan["end_time"]
    assert not scan["start_time"].startswith("1970")
    by_rule = {v["identifiers"][0]["value"]: v for v in report["vulnerabilities"]}
    assert set(by_rule) == {
        "require-non-root/run-as-non-root",
        "team-rules/team-label",
        "team-rules/read-only-root",
    }
    root = by_rule["require-non-root/run-as-non-root"]
    assert root["severity"] == "High"
    assert by_rule["team-rules/team-label"]["severity"] == "Medium"
    assert by_rule["team-rules/read-only-root"]["severity"] == "Low"
    assert root["location"]["file"] == "deploy/all.yaml"
    # runAsNonRoot is missing: the nearest field is the container, in the second document
    containers = [
        number
        for number, line in enumerate(manifest.read_text().splitlines(), start=1)
        if line.strip() == "- name: app"
    ]
    assert root["location"]["start_line"] == containers[1]
    assert root["description"].startswith("Deployment shop/api: container")
    assert len({v["id"] for v in report["vulnerabilities"]}) == len(report["vulnerabilities"])


def test_ids_are_stable_across_runs(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifests(workspace / "m.yaml", bad_deployment())
    policies = write_policies(workspace / "p")
    first = run_gitlab([*policies, "m.yaml"], capsys)[1]
    write_manifests(workspace / "m.yaml", good_deployment(), bad_deployment())  # lines move
    second = run_gitlab([*policies, "m.yaml"], capsys)[1]
    assert sorted(v["id"] for v in first["vulnerabilities"]) == sorted(
        v["id"] for v in second["vulnerabilities"]
    )


def test_file_errors_and_expired_exceptions_are_scan_messages(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "broken.yaml").write_text("kind: [unclosed\n")
    write_manifests(workspace / "m.yaml", good_deployment())
    policies = write_policies(workspace / "p")
    (workspace / "p" / "lapsed.yaml").write_text(textwrap.dedent(EXPIRED))
    code, report = run_gitlab([*policies, "--policies", "p/lapsed.yaml", "."], capsys)
    assert code == 2
    assert report["scan"]["status"] == "failure"
    levels = {message["level"]: message["value"] for message in report["scan"]["messages"]}
    assert levels["fatal"].startswith("broken.yaml")
    assert "exception lapsed" in levels["warn"] and "expired on 2001-01-01" in levels["warn"]
