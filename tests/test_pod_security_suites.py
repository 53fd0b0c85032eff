"""The PolicyTest suites of the pod-security policies: valid in the documented format, every
rule covered by a passing and a failing case, and every expected result what the engine gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tests.conftest import POLICIES
from tests.helpers import request
from webhook.engine import evaluate
from webhook.findings import Finding, Mode, Result
from webhook.policy.loader import load_policy_set

SUITES = sorted((POLICIES / "pod-security" / "tests").glob("*.yaml"))
ResultName = Literal["pass", "fail", "warn", "skip", "error"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expectation(Strict):
    policy: str
    rule: str
    result: ResultName


class Case(Strict):
    """One case of the PolicyTest format (see the policy test documentation)."""

    name: str = Field(min_length=1)
    object: dict[str, Any] | None = None
    file: str | None = None
    review: str | None = None
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"] = "CREATE"
    oldObject: dict[str, Any] | None = None
    userInfo: dict[str, Any] | None = None
    namespaceLabels: dict[str, str] | None = None
    expect: list[Expectation] = Field(min_length=1)
    patched: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Case:
        sources = [self.object, self.file, self.review]
        assert sum(source is not None for source in sources) == 1, "one of object/file/review"
        return self


class SuiteSpec(Strict):
    policies: list[str] = [".."]
    cases: list[Case] = Field(min_length=1)


class SuiteMetadata(Strict):
    name: str


class Suite(Strict):
    apiVersion: Literal["policy-webhook.dev/v1alpha1"]
    kind: Literal["PolicyTest"]
    metadata: SuiteMetadata
    spec: SuiteSpec


def load_suite(path: Path) -> Suite:
    return Suite.model_validate(yaml.safe_load(path.read_text()))


def rule_result(findings: list[Finding], policy: str, rule: str) -> str:
    """The PolicyTest result of one rule: fail (enforce/audit), warn, error, skip or pass."""
    own = [f for f in findings if f.policy == policy and f.rule == rule]
    if not own or all(f.result is Result.SKIP for f in own):
        return "skip"
    if any(f.result is Result.ERROR for f in own):
        return "error"
    failed = [f for f in own if f.failed]
    if not failed:
        return "pass"
    return "warn" if failed[0].mode is Mode.WARN else "fail"


def suite_cases() -> list[tuple[Path, Case]]:
    return [(path, case) for path in SUITES for case in load_suite(path).spec.cases]


@pytest.mark.parametrize(
    ("path", "case"), suite_cases(), ids=lambda value: getattr(value, "name", "")
)
def test_case_results(path: Path, case: Case) -> None:
    suite = load_suite(path)
    policies = load_policy_set([path.parent / entry for entry in suite.spec.policies])
    assert case.object is not None
    findings = evaluate(
        request(case.object, operation=case.operation), policies, namespace_labels={}
    )
    for expected in case.expect:
        got = rule_result(findings, expected.policy, expected.rule)
        assert got == expected.result, (expected, [f.message for f in findings if f.failed])


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    assert [path.name for path in SUITES] == ["baseline.yaml", "restricted.yaml"]
    covered: dict[tuple[str, str], set[str]] = {}
    for _, case in suite_cases():
        for expected in case.expect:
            covered.setdefault((expected.policy, expected.rule), set()).add(expected.result)
    policies = load_policy_set([POLICIES / "pod-security"])
    rules = {(policy.name, rule.name) for policy in policies.policies for rule in policy.rules}
    assert len(rules) == 19
    for key in rules:
        assert {"pass", "fail"} <= covered.get(key, set()), key
