"""The JUnit XML report of `check`, for CI test views: a suite per file, a case per rule.

A test case is one rule of one policy on one object. It fails when the rule failed in enforce
mode (an error when the rule could not be evaluated), so the counts agree with the exit code;
warn and audit findings are kept in the case's output. A bad file is a suite with one error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

from webhook.dryrun import CheckReport, ObjectResult
from webhook.errors import ManifestError
from webhook.findings import Finding, Mode, Result
from webhook.report.options import RenderOptions

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


@dataclass(slots=True)
class _Counts:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0

    def add(self, other: _Counts) -> None:
        self.tests += other.tests
        self.failures += other.failures
        self.errors += other.errors
        self.skipped += other.skipped

    def attributes(self) -> dict[str, str]:
        return {
            "tests": str(self.tests),
            "failures": str(self.failures),
            "errors": str(self.errors),
            "skipped": str(self.skipped),
        }


@dataclass(slots=True)
class _Suite:
    name: str
    cases: list[ElementTree.Element] = field(default_factory=list)
    counts: _Counts = field(default_factory=_Counts)


def render_junit(report: CheckReport, options: RenderOptions) -> str:
    """The report as a JUnit XML document (`<testsuites>`)."""
    del options  # file names are shown as given on the command line
    suites: dict[str, _Suite] = {}
    for error in report.errors:
        suite = suites.setdefault(error.file, _Suite(error.file))
        suite.cases.append(_error_case(error))
        suite.counts.tests += 1
        suite.counts.errors += 1
    for result in report.objects:
        suite = suites.setdefault(result.manifest.file, _Suite(result.manifest.file))
        for findings in _by_rule(result.findings):
            suite.cases.append(_rule_case(result, findings, suite.counts))
    root = ElementTree.Element("testsuites", {"name": "policy-webhook check"})
    total = _Counts()
    for suite in suites.values():
        element = ElementTree.SubElement(
            root, "testsuite", {"name": _clean(suite.name), **suite.counts.attributes()}
        )
        element.extend(suite.cases)
        total.add(suite.counts)
    root.attrib.update(total.attributes())
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _by_rule(findings: tuple[Finding, ...]) -> list[list[Finding]]:
    """Findings grouped by (policy, rule), in evaluation order."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.policy, finding.rule), []).append(finding)
    return list(groups.values())


def _rule_case(
    result: ObjectResult, findings: list[Finding], counts: _Counts
) -> ElementTree.Element:
    first = findings[0]
    manifest = result.manifest
    failed = [finding for finding in findings if finding.failed]
    line = manifest.line_of(failed[0].path) if failed else manifest.line
    case = ElementTree.Element(
        "testcase",
        {
            "classname": _clean(str(result.ref)),
            "name": _clean(f"{first.policy}/{first.rule}"),
            "file": _clean(manifest.file),
            "line": str(line),
        },
    )
    counts.tests += 1
    enforced = [finding for finding in failed if finding.mode is Mode.ENFORCE]
    if enforced:
        errored = any(finding.result is Result.ERROR for finding in enforced)
        tag = "error" if errored else "failure"
        outcome = ElementTree.SubElement(
            case, tag, {"message": _clean(enforced[0].message), "type": Mode.ENFORCE.value}
        )
        outcome.text = _clean("\n".join(_detail(result, finding) for finding in enforced))
        if errored:
            counts.errors += 1
        else:
            counts.failures += 1
    elif not failed and all(finding.result is Result.SKIP for finding in findings):
        ElementTree.SubElement(case, "skipped", {"message": "the rule does not apply"})
        counts.skipped += 1
    others = [finding for finding in failed if finding.mode is not Mode.ENFORCE]
    if others:
        output = ElementTree.SubElement(case, "system-out")
        output.text = _clean(
            "\n".join(
                f"{finding.mode.value.upper()}: {_detail(result, finding)}" for finding in others
            )
        )
    return case


def _detail(result: ObjectResult, finding: Finding) -> str:
    manifest = result.manifest
    where = f"{manifest.file}:{manifest.line_of(finding.path)}"
    field_text = f" (field {finding.path})" if finding.path else ""
    return f"{where}: {finding.message}{field_text}"


def _error_case(error: ManifestError) -> ElementTree.Element:
    case = ElementTree.Element(
        "testcase",
        {
            "classname": _clean(error.file),
            "name": "read manifests",
            "file": _clean(error.file),
            "line": str(error.line or 1),
        },
    )
    outcome = ElementTree.SubElement(
        case, "error", {"message": _clean(error.reason), "type": "invalid manifest"}
    )
    outcome.text = _clean(str(error))
    return case
