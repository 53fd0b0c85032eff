"""Comparing a case's expectations with what the engine concluded; each gives a `Check`.

A failed check carries diff lines (`-` expected, `+` actual, ` ` context) that say what
differs and show the findings behind the actual result; pure.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from webhook.decision import Decision, format_finding
from webhook.findings import Finding, Result
from webhook.policytest.model import Expectation


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the results table: what was expected, what happened, and the diff if not."""

    label: str  # policy/rule, "allowed" or "patched"
    expected: str
    actual: str
    ok: bool
    diff: tuple[str, ...] = ()


def reported(finding: Finding) -> bool:
    """A finding that says something is wrong: failed, errored, or failed and waived or
    overridden (break-glass)."""
    return finding.failed or finding.result in (Result.WAIVED, Result.OVERRIDDEN)


def _text(finding: Finding) -> str:
    """What `message` is matched against: the message, and the waiver of a waived finding."""
    if finding.waiver is None:
        return finding.message
    return f"{finding.message}; {finding.waiver.describe()}"


def _finding_lines(findings: Sequence[Finding], prefix: str) -> list[str]:
    lines = []
    for finding in findings:
        if not reported(finding):
            continue
        text = f"{prefix}  {finding.mode.value} {finding.result.value}: {format_finding(finding)}"
        if finding.waiver is not None:
            text = f"{text}; {finding.waiver.describe()}"
        lines.append(text)
    return lines


def expectation_check(expectation: Expectation, result: str, findings: Sequence[Finding]) -> Check:
    """Compare the result, and the message and paths when the expectation names them."""
    failing = [finding for finding in findings if reported(finding)]
    diff: list[str] = []
    actual = result
    if result != expectation.result:
        diff += [f"-result: {expectation.result}", f"+result: {result}"]
        diff += _finding_lines(failing, "+")
    else:
        if expectation.message is not None and not any(
            expectation.message in _text(finding) for finding in failing
        ):
            actual = f"{result} (other message)"
            diff.append(f"-a message containing: {expectation.message!r}")
            diff += _finding_lines(failing, "+")
        if expectation.paths is not None:
            expected_paths = sorted(set(expectation.paths))
            actual_paths = sorted({finding.path for finding in failing})
            if expected_paths != actual_paths:
                actual = f"{result} (other paths)" if actual == result else f"{result} (differs)"
                diff += [f"-path: {path}" for path in expected_paths if path not in actual_paths]
                diff += [f"+path: {path}" for path in actual_paths if path not in expected_paths]
                diff += [f" path: {path}" for path in expected_paths if path in actual_paths]
    return Check(
        label=expectation.label,
        expected=expectation.result,
        actual=actual,
        ok=not diff,
        diff=tuple(diff),
    )


def allowed_check(expected: bool, decision: Decision) -> Check:
    """Compare the admission decision: the verdict the webhook would answer."""
    words = {True: "allowed", False: "denied"}
    if decision.allowed == expected:
        return Check("allowed", words[expected], words[decision.allowed], ok=True)
    diff = [f"-{words[expected]}", f"+{words[decision.allowed]}"]
    diff += _finding_lines(decision.denials, "+")
    return Check("allowed", words[expected], words[decision.allowed], ok=False, diff=tuple(diff))


def yaml_text(value: Any) -> list[str]:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False).splitlines()


def patched_check(expected: Any, actual: Any, applied: Sequence[str]) -> Check:
    """Compare the object after /mutate's patch; a difference is a unified diff of the YAML."""
    if expected == actual:
        return Check("patched", "patched object", "same", ok=True)
    names = ", ".join(applied) if applied else "none"
    diff = [f" mutations applied: {names}"]
    diff += difflib.unified_diff(
        yaml_text(expected), yaml_text(actual), "expected", "actual", lineterm=""
    )
    return Check("patched", "patched object", "differs", ok=False, diff=tuple(diff))
