from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import POLICIES
from tests.helpers import pod_spec, wrap
from webhook.cli import main

EXCEPTION = """
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {{name: {name}}}
spec:
  policies: [{{name: require-non-root, rules: [run-as-non-root]}}]
  match: {{kinds: [Deployment], namespaces: [legacy], names: [{target}]}}
  owner: team-data
  reason: vendor image runs as root (DATA-142)
  expires: {expires}
"""


def policies_with(tmp_path: Path, *exceptions: str) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir()
    (directory / "baseline.yaml").write_text((POLICIES / "workloads" / "non-root.yaml").read_text())
    for index, text in enumerate(exceptions):
        (directory / f"exception-{index}.yaml").write_text(textwrap.dedent(text))
    return directory


def manifests(tmp_path: Path, *objects: object) -> Path:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    return path


def test_active_exception_admits_and_is_shown_in_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = policies_with(
        tmp_path, EXCEPTION.format(name="legacy-root", target="batch", expires="2999-12-31")
    )
    target = manifests(tmp_path, wrap("Deployment", pod_spec(), name="batch", namespace="legacy"))
    assert main(["check", "--policies", str(policies), str(target)]) == 0
    out = capsys.readouterr().out
    assert "WAIVED [require-non-root/run-as-non-root]" in out
    assert "waived by exception legacy-root (owner team-data, expires 2999-12-31)" in out
    assert "1 waived" in out.splitlines()[-1]


def test_expired_exception_warns_and_no_longer_admits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = policies_with(
        tmp_path,
        EXCEPTION.format(name="old-waiver", target="batch", expires="2001-01-31"),
        EXCEPTION.format(name="live-waiver", target="other", expires="2999-12-31"),
    )
    target = manifests(tmp_path, wrap("Deployment", pod_spec(), name="batch", namespace="legacy"))
    assert main(["check", "--policies", str(policies), str(target)]) == 1
    lines = capsys.readouterr().out.splitlines()
    warnings = [line for line in lines if line.startswith("warning:")]
    assert warnings == [
        f"warning: exception old-waiver ({policies / 'exception-0.yaml'}:2, owner team-data) "
        "expired on 2001-01-31; it no longer waives require-non-root/run-as-non-root"
    ]
    assert any(line.startswith("  DENY [require-non-root/run-as-non-root]") for line in lines)
    assert lines[-1].endswith("; 1 expired exceptions")


def test_json_lists_waivers_and_expired_exceptions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = policies_with(
        tmp_path,
        EXCEPTION.format(name="old-waiver", target="gone", expires="2001-01-31"),
        EXCEPTION.format(name="live-waiver", target="batch", expires="2999-12-31"),
    )
    target = manifests(tmp_path, wrap("Deployment", pod_spec(), name="batch", namespace="legacy"))
    assert main(["check", "--policies", str(policies), "-o", "json", str(target)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["waived"] == 1
    assert report["summary"]["denied"] == 0
    (finding,) = report["findings"]
    assert finding["result"] == "waived"
    assert finding["waiver"] == {
        "exception": "live-waiver",
        "owner": "team-data",
        "reason": "vendor image runs as root (DATA-142)",
        "expires": "2999-12-31",
        "source": f"{policies / 'exception-1.yaml'}:2",
    }
    (expired,) = report["expiredExceptions"]
    assert expired["name"] == "old-waiver"
    assert expired["expires"] == "2001-01-31"
    assert expired["file"] == str(policies / "exception-0.yaml")


def test_exception_among_the_manifests_is_not_an_exception(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the policies directory holds exceptions: one shipped with the objects is an object.
    policies = policies_with(tmp_path)
    smuggled = yaml.safe_load(
        EXCEPTION.format(name="self-waiver", target="batch", expires="2999-12-31")
    )
    bad = wrap("Deployment", pod_spec(), name="batch", namespace="legacy")
    bad["metadata"]["annotations"] = {"policy-webhook.dev/exception": "self-waiver"}
    target = manifests(tmp_path, smuggled, bad)
    assert main(["check", "--policies", str(policies), "-o", "json", str(target)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["result"] for f in report["findings"]] == ["fail"]
    assert report["summary"]["waived"] == 0
