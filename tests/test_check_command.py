from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import POLICIES
from tests.helpers import pod_spec, wrap
from webhook.cli import main

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


def test_impossible_date_is_a_file_error_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  when: 2027-02-30\n"
    )
    assert main(["check", "--policies", str(POLICIES), str(tmp_path / "cm.yaml")]) == 2
    assert "cm.yaml:5: invalid YAML: invalid value: day is out of range" in capsys.readouterr().out
