"""`policy-webhook check` verifies signatures when the registry is reachable, and says clearly
when it is not (or when verification was skipped)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import pod_spec, wrap
from tests.signatures.conftest import COSIGN, SINGLE, TESTIMAGE
from tests.signatures.oci import RegistryServer, free_port
from webhook.cli import main

POLICY = """
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


def _setup(tmp_path: Path, image: str, key: str) -> tuple[Path, Path]:
    (tmp_path / "keys").mkdir()
    shutil.copy(COSIGN / "keys" / f"{key}.pub", tmp_path / "keys" / f"{key}.pub")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace("KEY", key))
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(
        yaml.safe_dump(wrap("Deployment", pod_spec(name="api", image=image), name="api"))
    )
    return policy, manifest


def test_verified_image_passes(registry: RegistryServer, tmp_path: Path) -> None:
    policy, manifest = _setup(tmp_path, f"{registry.host}/{TESTIMAGE}@{SINGLE}", "alice")
    assert main(["check", "--policies", str(policy), str(manifest)]) == 0


def test_unknown_signer_fails(
    registry: RegistryServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, manifest = _setup(tmp_path, f"{registry.host}/{TESTIMAGE}@{SINGLE}", "default")
    assert main(["check", "--policies", str(policy), str(manifest)]) == 1
    assert "(found 1 signature, by an unknown key)" in capsys.readouterr().out


def test_unreachable_registry_is_said_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, manifest = _setup(tmp_path, f"127.0.0.1:{free_port()}/team/api:1.4", "alice")
    assert main(["check", "--policies", str(policy), str(manifest)]) == 1
    captured = capsys.readouterr()
    assert "could not be verified: registry unreachable" in captured.out
    assert "note: signatures of 1 image(s) could not be verified (registry unreachable: 1)" in (
        captured.err
    )
    assert "--skip-signatures" in captured.err


def test_skipping_signatures_is_said_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, manifest = _setup(tmp_path, f"127.0.0.1:{free_port()}/team/api:1.4", "alice")
    code = main(["check", "--skip-signatures", "--policies", str(policy), str(manifest)])
    assert code == 0
    assert "signatures of 1 image(s) were not verified (--skip-signatures)" in (
        capsys.readouterr().err
    )
