"""What the report tests share: a policy set with every mode and manifests written to files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from tests.conftest import POLICIES
from tests.helpers import pod_spec, wrap

# The shipped non-root policy alone, so the expected findings do not change with other policies.
NON_ROOT = POLICIES / "workloads" / "non-root.yaml"

MODES_POLICY = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata:
  name: team-rules
  annotations:
    policy-webhook.dev/description: Workloads name their owning team and keep a read-only root.
spec:
  mode: warn
  match:
    kinds: [Deployment]
  rules:
    - name: team-label
      expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
      message: "{kind} {name} needs a metadata.labels.team naming the owning team"
    - name: read-only-root
      mode: audit
      check: readOnlyRootFilesystem
"""


def write_policies(directory: Path) -> list[str]:
    """The shipped non-root policy plus one warn/audit policy: `--policies` arguments."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "team-rules.yaml"
    path.write_text(MODES_POLICY)
    return ["--policies", str(NON_ROOT), "--policies", str(path)]


def bad_deployment(name: str = "api") -> dict[str, object]:
    """A Deployment that runs as root, has no team label and a writable root filesystem."""
    return wrap("Deployment", pod_spec(), name=name, namespace="shop")


def good_deployment(name: str = "web") -> dict[str, object]:
    spec = pod_spec(securityContext={"runAsNonRoot": True, "readOnlyRootFilesystem": True})
    return wrap("Deployment", spec, name=name, namespace="shop", labels={"team": "payments"})


def write_manifests(path: Path, *objects: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()
