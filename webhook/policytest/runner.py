"""Running policy test suites through the engine, exactly as `check` and the webhook call it.

Each case becomes an AdmissionRequest (the review file's, or the one the API server would send
for the object) and goes through `webhook.engine.evaluate` and `webhook.decision.decide`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import jsonpatch
from msgspec import structs

from webhook.decision import decide
from webhook.desired.store import DesiredStates
from webhook.engine import evaluate
from webhook.errors import PolicySetError, SuiteError
from webhook.findings import Finding, Mode, Result
from webhook.mutation import apply_mutations
from webhook.patches import build_patch
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.policytest.compare import Check, allowed_check, expectation_check, patched_check
from webhook.policytest.loader import LoadedCase, Suite, load_suites
from webhook.review import AdmissionRequest, UserInfo, request_for_manifest, with_old_object

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
CASE_UID = "policy-test"
# The user of a `via: webhook` case that names none: an ordinary authenticated user.
WEBHOOK_USER = UserInfo(username="policy-test", groups=["system:authenticated"])


@dataclass(frozen=True, slots=True)
class CaseResult:
    suite: Suite
    case: LoadedCase
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)


@dataclass(slots=True)
class RunReport:
    results: list[CaseResult] = field(default_factory=list)
    errors: list[SuiteError] = field(default_factory=list)
    suites: int = 0

    @property
    def failed(self) -> list[CaseResult]:
        return [result for result in self.results if not result.passed]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_BAD_INPUT
        return EXIT_FAILED if self.failed else EXIT_OK


def run_tests(paths: Sequence[Path | str], *, today: date) -> RunReport:
    """Load the suites under `paths` and run every case; bad suites become errors, not raises.

    PolicyExceptions are judged at `today` unless a suite fixes its own date.
    """
    loaded = load_suites(paths)
    report = RunReport(errors=list(loaded.errors), suites=len(loaded.suites))
    cache: dict[tuple[Path, ...], PolicySet | PolicySetError] = {}
    preloaded: dict[tuple[Path, ...], Mapping[Any, Any]] = {}
    for suite in loaded.suites:
        policies = _policies(suite, cache)
        if isinstance(policies, PolicySetError):
            report.errors.extend(
                SuiteError(suite.file, suite.policies_line, f"invalid policy: {item}")
                for item in policies.errors
            )
            continue
        lookups = preloaded.get(_key(suite))
        if lookups is None:
            lookups = preloaded[_key(suite)] = _preloads(policies)
        for case in suite.cases:
            try:
                checks = run_case(
                    case, policies, suite=suite, today=suite.today or today, lookups=lookups
                )
            except SuiteError as error:
                report.errors.append(error)
                continue
            report.results.append(CaseResult(suite=suite, case=case, checks=checks))
    return report


def _key(suite: Suite) -> tuple[Path, ...]:
    return tuple(path.resolve() for path in suite.policies)


def _preloads(policies: PolicySet) -> Mapping[Any, Any]:
    """What the server loads ahead for these policies (desiredState directories), loaded once.

    A directory that cannot be read makes its rules report `error`, as in the webhook.
    """
    states = DesiredStates.for_policies(policies)
    states.reload()
    return states.lookups()


def _policies(
    suite: Suite, cache: dict[tuple[Path, ...], PolicySet | PolicySetError]
) -> PolicySet | PolicySetError:
    """The suite's policies, loaded once per distinct set of paths."""
    key = _key(suite)
    if key not in cache:
        try:
            cache[key] = load_policy_set(list(suite.policies))
        except PolicySetError as error:
            cache[key] = error
    return cache[key]


def build_request(case: LoadedCase) -> tuple[AdmissionRequest, bool]:
    """The request for `case` and whether it is evaluated offline (as `check` does)."""
    spec = case.spec
    via = spec.via or ("webhook" if case.review is not None else "check")
    offline = via == "check"
    if case.review is not None:
        return case.review, offline
    assert case.object is not None
    operation = spec.operation or "CREATE"
    request = request_for_manifest(case.object, operation=operation)
    if spec.userInfo is not None:
        user = UserInfo(
            username=spec.userInfo.username,
            uid=spec.userInfo.uid,
            groups=list(spec.userInfo.groups),
            extra={key: list(value) for key, value in spec.userInfo.extra.items()},
        )
    else:
        user = request.userInfo if offline else WEBHOOK_USER
    new: dict[str, Any] | None = case.object
    old = spec.oldObject
    if operation == "DELETE":
        new, old = None, case.object
    request = structs.replace(request, uid=CASE_UID, userInfo=user, new_object=new)
    request = with_old_object(request, old)
    return request, offline


def run_case(
    case: LoadedCase,
    policies: PolicySet,
    *,
    suite: Suite,
    today: date,
    lookups: Mapping[Any, Any] | None = None,
) -> tuple[Check, ...]:
    """Evaluate one case and compare; raises SuiteError when it names an unknown policy/rule."""
    _check_names(case, policies, suite)
    request, offline = build_request(case)
    findings = evaluate(
        request,
        policies,
        namespace_labels=case.spec.namespaceLabels,
        offline=offline,
        today=today,
        lookups=lookups,
    )
    checks = [
        expectation_check(
            expectation,
            actual_result(findings, expectation.policy, expectation.rule),
            [f for f in findings if _about(f, expectation.policy, expectation.rule)],
        )
        for expectation in case.spec.expect
    ]
    if case.spec.allowed is not None:
        checks.append(allowed_check(case.spec.allowed, decide(findings)))
    if case.spec.patched is not None:
        patched, applied = patched_object(request, policies, case.spec.namespaceLabels)
        checks.append(patched_check(case.spec.patched, patched, applied))
    return tuple(checks)


def patched_object(
    request: AdmissionRequest, policies: PolicySet, namespace_labels: Mapping[str, str] | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The object as the API server stores it after /mutate: its JSON Patch applied.

    The patch is built as the webhook builds it and applied with jsonpatch, so the comparison
    covers the patch the API server receives, not only the mutated copy.
    """
    mutated, applied = apply_mutations(request, policies, namespace_labels=namespace_labels)
    original = request.object
    if original is None or mutated is None or not applied:
        return original, []
    patch = build_patch(original, mutated)
    if patch is None:
        return original, []
    result: dict[str, Any] = jsonpatch.JsonPatch(json.loads(patch)).apply(original)
    return result, applied


def _check_names(case: LoadedCase, policies: PolicySet, suite: Suite) -> None:
    by_name = {policy.name: policy for policy in policies.policies}
    for expectation, line in zip(case.spec.expect, case.expect_lines, strict=True):
        policy = by_name.get(expectation.policy)
        if policy is None:
            raise SuiteError(
                suite.file,
                line,
                f"case {case.spec.name!r}: policy {expectation.policy!r} is not among the "
                f"suite's policies ({', '.join(sorted(by_name))})",
            )
        rules = [rule.name for rule in policy.rules]
        if expectation.rule is not None and expectation.rule not in rules:
            raise SuiteError(
                suite.file,
                line,
                f"case {case.spec.name!r}: policy {policy.name!r} has no rule "
                f"{expectation.rule!r} (rules: {', '.join(rules)})",
            )


def _about(finding: Finding, policy: str, rule: str | None) -> bool:
    return finding.policy == policy and (rule is None or finding.rule == rule)


def actual_result(findings: Sequence[Finding], policy: str, rule: str | None) -> str:
    """pass | fail | warn | waived | overridden | skip | error for a rule, or a policy when
    `rule` is None.

    `fail` is a failure in enforce or audit mode, `warn` one in warn mode, `waived` one a
    PolicyException covers, `overridden` one a break-glass subject made; `skip` means the
    policy did not match or the rule did not apply.
    The worst outcome wins: error, fail, warn, waived, overridden, pass, skip.
    """
    relevant = [finding for finding in findings if _about(finding, policy, rule)]
    if any(finding.result is Result.ERROR for finding in relevant):
        return "error"
    failed = [finding for finding in relevant if finding.result is Result.FAIL]
    if any(finding.mode is not Mode.WARN for finding in failed):
        return "fail"
    if failed:
        return "warn"
    if any(finding.result is Result.WAIVED for finding in relevant):
        return "waived"
    if any(finding.result is Result.OVERRIDDEN for finding in relevant):
        return "overridden"
    if any(finding.result is Result.PASS for finding in relevant):
        return "pass"
    return "skip"
