"""The shipped Pod Security Standards policies against every upstream fixture (v1.37).

Baseline fixtures run against pod-security-baseline; restricted fixtures against baseline and
restricted together. A fail fixture must fail the rule of the control its file name names.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import DATA, POLICIES
from tests.helpers import request
from webhook.engine import evaluate
from webhook.findings import Finding
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set

FIXTURES = DATA / "pod-security"
BASELINE = "pod-security-baseline"
RESTRICTED = "pod-security-restricted"

# Fixture file name (without its number) -> the (policy, rule) of that control.
CONTROL_RULES = {
    "hostnamespaces": (BASELINE, "host-namespaces"),
    "privileged": (BASELINE, "privileged"),
    "capabilities_baseline": (BASELINE, "capabilities"),
    "hostpathvolumes": (BASELINE, "host-path-volumes"),
    "hostports": (BASELINE, "host-ports"),
    "apparmorprofile": (BASELINE, "apparmor"),
    "selinuxoptions": (BASELINE, "selinux"),
    "procmount": (BASELINE, "proc-mount"),
    "seccompprofile_baseline": (BASELINE, "seccomp"),
    "sysctls": (BASELINE, "sysctls"),
    "windowshostprocess": (BASELINE, "windows-host-process"),
    "hostprobesandhostlifecycle": (BASELINE, "host-probes-and-lifecycle"),
    "restrictedvolumes": (RESTRICTED, "volume-types"),
    "allowprivilegeescalation": (RESTRICTED, "allow-privilege-escalation"),
    "runasnonroot": (RESTRICTED, "run-as-non-root"),
    "runasuser": (RESTRICTED, "run-as-user"),
    "seccompprofile_restricted": (RESTRICTED, "seccomp"),
    "capabilities_restricted": (RESTRICTED, "capabilities"),
    "procmount_restricted": (RESTRICTED, "proc-mount"),
}
LEVEL_FILES = {
    "baseline": ["baseline.yaml"],
    "restricted": ["baseline.yaml", "restricted.yaml"],
}
# Where the pod spec and metadata sit in each kind, as the paths of findings show.
TEMPLATE_PREFIXES = {
    "Pod": ("/spec", "/metadata"),
    "Deployment": ("/spec/template/spec", "/spec/template/metadata"),
    "CronJob": (
        "/spec/jobTemplate/spec/template/spec",
        "/spec/jobTemplate/spec/template/metadata",
    ),
}


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*/v1.37/*/*.yaml"))


FILES = fixture_files()


def fixture_id(path: Path) -> str:
    return "/".join(path.relative_to(FIXTURES).parts)


def control_of(path: Path) -> str:
    return re.sub(r"\d+$", "", path.stem)


def level_of(path: Path) -> str:
    return path.relative_to(FIXTURES).parts[0]


def expects_pass(path: Path) -> bool:
    verdict = path.parent.name
    assert verdict in ("pass", "fail"), path
    return verdict == "pass"


_LEVELS: dict[str, PolicySet] = {}


def level_policies(level: str) -> PolicySet:
    """The shipped policies of `level`, loaded once for the module."""
    if level not in _LEVELS:
        files = [POLICIES / "pod-security" / name for name in LEVEL_FILES[level]]
        _LEVELS[level] = load_policy_set(files)
    return _LEVELS[level]


def as_kind(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    """`pod` as itself, or as the pod template (metadata and spec) of a Deployment or CronJob."""
    if kind == "Pod":
        return pod
    metadata = {"name": pod["metadata"]["name"].replace("_", "-"), "namespace": "default"}
    template = {"metadata": copy.deepcopy(pod["metadata"]), "spec": copy.deepcopy(pod["spec"])}
    if kind == "Deployment":
        spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec}
    job = {"spec": {"template": template}}
    spec = {"schedule": "0 * * * *", "jobTemplate": job}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": spec}


def failed_findings(path: Path, kind: str) -> list[Finding]:
    pod = yaml.safe_load(path.read_text())
    pod["metadata"].setdefault("namespace", "default")
    findings = evaluate(request(as_kind(pod, kind)), level_policies(level_of(path)))
    assert findings, "the level's policies must apply to the object"
    return [finding for finding in findings if finding.failed]


def test_every_fixture_is_there() -> None:
    assert len(FILES) == 148
    assert {control_of(path) for path in FILES if not expects_pass(path)} == set(CONTROL_RULES)


@pytest.mark.parametrize("kind", list(TEMPLATE_PREFIXES))
@pytest.mark.parametrize("path", FILES, ids=fixture_id)
def test_fixture_verdict(path: Path, kind: str) -> None:
    failed = failed_findings(path, kind)
    if expects_pass(path):
        assert failed == [], [finding.message for finding in failed]
        return
    control = control_of(path)
    assert CONTROL_RULES[control] in {(finding.policy, finding.rule) for finding in failed}, [
        (finding.policy, finding.rule, finding.message) for finding in failed
    ]
    spec_prefix, metadata_prefix = TEMPLATE_PREFIXES[kind]
    for finding in failed:
        assert finding.path.startswith((f"{spec_prefix}/", f"{metadata_prefix}/")), finding.path
        assert finding.path not in finding.message  # the path travels beside the message
        if finding.container is not None:
            assert f'"{finding.container}"' in finding.message


def test_fixture_counts_per_level() -> None:
    counts: dict[tuple[str, bool], int] = {}
    for path in FILES:
        key = (level_of(path), expects_pass(path))
        counts[key] = counts.get(key, 0) + 1
    assert counts == {
        ("baseline", True): 15,
        ("baseline", False): 34,
        ("restricted", True): 23,
        ("restricted", False): 76,
    }
