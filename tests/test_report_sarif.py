from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
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

SCHEMA = json.loads((DATA / "sarif" / "sarif-schema-2.1.0.json").read_text())


def run_sarif(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main(["check", "-o", "sarif", *arguments])
    log = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    return code, log


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_real_manifests_give_a_valid_log(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, log = run_sarif(
        [*write_policies(workspace / "policies"), str(DATA / "manifests")], capsys
    )
    assert code == 2  # one of the real files is an unrendered template
    run = log["runs"][0]
    assert len(log["runs"]) == 1
    assert run["results"], "the guestbook Deployments run as root"
    notifications = run["invocations"][0]["toolExecutionNotifications"]
    assert [
        n["locations"][0]["physicalLocation"]["region"]["startLine"] for n in notifications
    ] == [7]
    assert run["invocations"][0]["executionSuccessful"] is False


def test_rules_are_every_rule_of_the_loaded_policies(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifests(workspace / "ok.yaml", good_deployment())
    code, log = run_sarif([*write_policies(workspace / "p"), str(manifest)], capsys)
    assert code == 0
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids == [
        "require-non-root/run-as-non-root",
        "team-rules/team-label",
        "team-rules/read-only-root",
    ]
    by_id = {rule["id"]: rule for rule in rules}
    assert by_id["team-rules/read-only-root"]["defaultConfiguration"]["level"] == "note"
    assert (
        "readOnlyRootFilesystem" in by_id["team-rules/read-only-root"]["shortDescription"]["text"]
    )
    assert "owning team" in by_id["team-rules/team-label"]["fullDescription"]["text"]
    assert "team-label" in by_id["team-rules/team-label"]["help"]["text"]
    assert log["runs"][0]["results"] == []


def test_results_carry_level_location_and_object(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifests(
        workspace / "deploy" / "app.yaml", good_deployment(), bad_deployment("api")
    )
    code, log = run_sarif([*write_policies(workspace / "p"), "deploy"], capsys)
    assert code == 1
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    levels = {result["ruleId"]: result["level"] for result in run["results"]}
    assert levels == {
        "require-non-root/run-as-non-root": "error",
        "team-rules/team-label": "warning",
        "team-rules/read-only-root": "note",
    }
    lines = manifest.read_text().splitlines()
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": "deploy/app.yaml", "uriBaseId": "SRCROOT"}
        assert location["logicalLocations"][0]["fullyQualifiedName"] == "Deployment/shop/api"
        assert location["logicalLocations"][0]["kind"] == "resource"
        line = lines[physical["region"]["startLine"] - 1]
        if result["ruleId"] == "require-non-root/run-as-non-root":
            # runAsNonRoot is missing: the nearest field that exists is the container entry
            assert line.strip() == "- name: app"
            assert "/securityContext/runAsNonRoot" in result["message"]["text"]
        if result["ruleId"] == "team-rules/team-label":
            assert "needs a metadata.labels.team" in result["message"]["text"]
    base = run["originalUriBaseIds"]["SRCROOT"]["uri"]
    assert base == workspace.as_uri() + "/"


def test_the_line_is_the_line_of_the_offending_field(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: root\nspec:\n  containers:\n"
        "    - name: app\n      image: reg.example.com/app:1\n      securityContext:\n"
        "        runAsUser: 0\n"
    )
    _, log = run_sarif(["--policies", str(NON_ROOT), "pod.yaml"], capsys)
    [result] = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 10


def test_stdin_has_only_a_logical_location(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = json.dumps(bad_deployment("from-stdin"))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    _, log = run_sarif(["--policies", str(NON_ROOT), "-"], capsys)
    [result] = log["runs"][0]["results"]
    assert "physicalLocation" not in result["locations"][0]
    assert result["locations"][0]["logicalLocations"][0]["name"] == "from-stdin"


def test_fingerprints_survive_moved_lines(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifests(workspace / "a.yaml", bad_deployment("api"))
    _, first = run_sarif(["--policies", str(NON_ROOT), "a.yaml"], capsys)
    write_manifests(workspace / "a.yaml", good_deployment("other"), bad_deployment("api"))
    _, second = run_sarif(["--policies", str(NON_ROOT), "a.yaml"], capsys)
    [before], [after] = first["runs"][0]["results"], second["runs"][0]["results"]
    assert before["partialFingerprints"] == after["partialFingerprints"]
    assert (
        before["locations"][0]["physicalLocation"]["region"]
        != after["locations"][0]["physicalLocation"]["region"]
    )


def test_the_schema_check_rejects_a_wrong_level(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifests(workspace / "a.yaml", bad_deployment("api"))
    _, log = run_sarif(["--policies", str(NON_ROOT), "a.yaml"], capsys)
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(log)
