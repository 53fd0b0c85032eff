from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tests.conftest import POLICIES
from tests.helpers import pod_spec, wrap
from webhook.checks.base import CompiledCheck, EvaluationContext
from webhook.cli import main
from webhook.dryrun import run_check
from webhook.findings import Violation
from webhook.policy.compiled import PolicySet

# One shipped policy, so these tests do not change when other policies are added.
NON_ROOT = POLICIES / "workloads" / "non-root.yaml"


def write(path: Path, *objects: object) -> Path:
    path.write_text(yaml.safe_dump_all(objects))
    return path


def test_exit_codes_and_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = pod_spec(securityContext={"runAsNonRoot": True})
    write(tmp_path / "ok.yaml", wrap("Deployment", good))
    assert main(["check", "--policies", str(NON_ROOT), str(tmp_path / "ok.yaml")]) == 0
    write(tmp_path / "bad.yaml", wrap("Deployment", pod_spec(), name="api"))
    assert main(["check", "--policies", str(NON_ROOT), str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "Deployment default/api" in out
    assert 'container "app"' in out
    assert "/spec/template/spec/containers/0/securityContext/runAsNonRoot" in out


def test_bad_file_is_reported_and_the_rest_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.yaml", wrap("Pod", pod_spec(), name="root-pod"))
    (tmp_path / "b.yaml").write_text("kind: [unclosed\n")
    (tmp_path / "c.yaml").write_bytes(b"\x00\x01binary")
    code = main(["check", "--policies", str(NON_ROOT), "-o", "json", str(tmp_path)])
    assert code == 2
    report = json.loads(capsys.readouterr().out)
    assert {Path(error["file"]).name for error in report["errors"]} == {"b.yaml", "c.yaml"}
    assert report["findings"][0]["object"]["name"] == "root-pod"
    assert report["findings"][0]["source"]["line"] >= 1


def test_kind_list_is_unpacked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [wrap("Pod", pod_spec(), name="first"), wrap("Pod", pod_spec(), name="second")],
    }
    (tmp_path / "export.json").write_text(json.dumps(listing))
    assert (
        main(["check", "--policies", str(NON_ROOT), "-o", "json", str(tmp_path / "export.json")])
        == 1
    )
    names = {f["object"]["name"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert names == {"first", "second"}


def test_invalid_policy_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.yaml").write_text("apiVersion: policy-webhook.dev/v1alpha1\nkind: Policy\n")
    write(tmp_path / "m.yaml", wrap("Pod", pod_spec()))
    assert main(["check", "--policies", str(tmp_path / "p.yaml"), str(tmp_path / "m.yaml")]) == 2
    assert "p.yaml:1" in capsys.readouterr().err


def test_dates_stay_strings_as_in_kubernetes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The API server reads `2027-02-30` and `=` as strings, so they are no error here either.
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  when: 2027-02-30\n  op: =\n"
    )
    assert main(["check", "--policies", str(POLICIES), str(tmp_path / "cm.yaml")]) == 0


def test_a_value_that_cannot_be_built_is_a_file_error_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n"
        "  settings: !include settings.yaml\n"
    )
    assert main(["check", "--policies", str(POLICIES), str(tmp_path / "cm.yaml")]) == 2
    out = capsys.readouterr().out
    assert (
        "cm.yaml:5: invalid YAML: could not determine a constructor for the tag '!include'" in out
    )


def test_an_object_that_breaks_a_check_is_an_error_and_the_rest_still_checked(
    tmp_path: Path, policy_set: Callable[[str], PolicySet]
) -> None:
    loaded = policy_set(
        """
        apiVersion: policy-webhook.dev/v1alpha1
        kind: Policy
        metadata: {name: fragile}
        spec:
          match: {kinds: [Pod]}
          rules:
            - {name: non-root, check: nonRoot}
        """
    )

    def breaks_on_crash(context: EvaluationContext) -> list[Violation]:
        if context.metadata.get("name") == "crash":
            raise KeyError("a field the check did not expect")
        return [Violation("runs as root")]

    [policy] = loaded.policies
    rule = replace(policy.rules[0], check=CompiledCheck(run=breaks_on_crash))
    policies = PolicySet(policies=(replace(policy, rules=(rule,)),))
    manifest = write(
        tmp_path / "a.yaml", wrap("Pod", pod_spec(), name="crash"), wrap("Pod", pod_spec())
    )
    report = run_check([str(manifest)], policies)
    assert report.exit_code == 2
    [error] = report.errors
    assert error.reason.startswith("Pod default/crash could not be evaluated: KeyError")
    assert error.line == 1
    assert [result.ref.name for result in report.objects] == ["demo"]
    assert report.objects[0].failures[0].message == "runs as root"


def test_stdin_takes_multi_document_yaml(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = yaml.safe_dump_all([wrap("Pod", pod_spec(), name="one"), wrap("Pod", pod_spec())])
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["check", "--policies", str(POLICIES), "-o", "json", "-"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert {(f["source"]["file"], f["source"]["document"]) for f in findings} == {
        ("-", 0),
        ("-", 1),
    }
