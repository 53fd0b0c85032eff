"""`policy-webhook diff` verifies signatures once for both policy sets, against a real registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import pod_spec, wrap
from tests.signatures.conftest import COSIGN, SINGLE, TESTIMAGE
from tests.signatures.oci import RegistryServer, free_port
from webhook.cli import main

SIGNED = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: signed-images}
spec:
  match: {kinds: [Pod]}
  rules:
    - name: signed
      check: imageSignatures
      with:
        keys: [{file: keys/KEY.pub}]
        registries: {insecure: ["127.0.0.1:*"]}
"""
NON_ROOT = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: non-root}
spec:
  match: {kinds: [Pod]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""


def policies(tmp_path: Path, key: str) -> tuple[str, str]:
    base, head = tmp_path / "base", tmp_path / "head"
    for directory in (base, head):
        directory.mkdir()
        (directory / "non-root.yaml").write_text(NON_ROOT)
    (head / "keys").mkdir()
    shutil.copy(COSIGN / "keys" / f"{key}.pub", head / "keys" / f"{key}.pub")
    (head / "signed.yaml").write_text(SIGNED.replace("KEY", key))
    return str(base), str(head)


def manifest(tmp_path: Path, image: str) -> str:
    path = tmp_path / "deploy.yaml"
    spec = pod_spec(name="api", image=image, securityContext={"runAsNonRoot": True})
    path.write_text(yaml.safe_dump(wrap("Deployment", spec, name="api")))
    return str(path)


def diff_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["diff", "-o", "json", *args])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, report


def test_a_signature_policy_admits_what_is_signed(
    registry: RegistryServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = policies(tmp_path, "alice")
    target = manifest(tmp_path, f"{registry.host}/{TESTIMAGE}@{SINGLE}")
    code, report = diff_json(capsys, "--base", base, "--head", head, target)
    assert code == 0
    assert report["changes"] == []


def test_a_signature_policy_newly_denies_an_unknown_signer(
    registry: RegistryServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = policies(tmp_path, "default")
    target = manifest(tmp_path, f"{registry.host}/{TESTIMAGE}@{SINGLE}")
    code, report = diff_json(capsys, "--base", base, "--head", head, target)
    assert code == 1
    (change,) = report["changes"]
    assert change["change"] == "newly-denied"
    assert "by an unknown key" in change["newDenials"][0]["message"]


def test_skipped_signatures_deny_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = policies(tmp_path, "alice")
    target = manifest(tmp_path, f"127.0.0.1:{free_port()}/team/api:1.4")
    code, report = diff_json(capsys, "--skip-signatures", "--base", base, "--head", head, target)
    assert code == 0
    assert report["changes"] == []
