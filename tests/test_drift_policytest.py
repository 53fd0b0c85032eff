"""PolicyTest suites for desiredState rules read the rendered manifests as the webhook does."""

from __future__ import annotations

import shutil
import textwrap
from datetime import date
from pathlib import Path

from tests.drift_helpers import RENDERED, REVIEWS, policy
from webhook.policytest.runner import run_tests

SUITE = """
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyTest
metadata: {name: matches-git}
spec:
  policies: [../drift.yaml]
  cases:
    - name: an edit that leaves Git's image is denied with the difference
      review: reviews/kubectl-edit.json
      expect:
        - policy: gitops
          rule: no-drift
          result: fail
          message: 'Git declares "registry.example.com/shop/web:1.4.2"'
          paths: [/spec/template/spec/containers/0/image]
      allowed: false
    - name: re-applying what Git declares passes
      review: reviews/apply-same-as-git.json
      expect:
        - {policy: gitops, rule: no-drift, result: pass}
    - name: break-glass
      review: reviews/break-glass-edit.json
      expect:
        - {policy: gitops, rule: no-drift, result: overridden, message: bob@example.com}
      allowed: true
"""


def pack(root: Path, desired: str) -> Path:
    (root / "tests" / "reviews").mkdir(parents=True)
    for name in ("kubectl-edit", "apply-same-as-git", "break-glass-edit"):
        shutil.copy(REVIEWS / f"{name}.json", root / "tests" / "reviews")
    (root / "drift.yaml").write_text(policy("desiredState", f"path: {desired}"))
    (root / "tests" / "suite.yaml").write_text(textwrap.dedent(SUITE).lstrip())
    return root


def test_a_suite_runs_desired_state_rules_against_the_rendered_manifests(tmp_path: Path) -> None:
    root = pack(tmp_path / "pack", "rendered")  # relative to the policy file
    shutil.copytree(RENDERED, root / "rendered")
    report = run_tests([root], today=date(2026, 6, 1))
    assert report.errors == []
    assert [result.case.spec.name for result in report.failed] == []
    assert len(report.results) == 3


def test_without_the_directory_the_rule_reports_an_error(tmp_path: Path) -> None:
    root = pack(tmp_path / "pack", "absent")
    report = run_tests([root], today=date(2026, 6, 1))
    failed = {result.case.spec.name for result in report.failed}
    # The break-glass case is still admitted; the others see `error` instead of their result.
    assert failed == {
        "an edit that leaves Git's image is denied with the difference",
        "re-applying what Git declares passes",
    }
