"""JUnit XML of `policy-webhook test`: a testsuite per suite file, a testcase per case; pure.

Failed expectations are `<failure>` elements carrying the diff; bad input (an invalid suite,
policy or expectation) is an `<error>`, so CI systems tell the two apart.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from webhook.errors import SuiteError
from webhook.policytest.runner import CaseResult, RunReport


def _case_element(element: ET.Element, result: CaseResult) -> None:
    case = ET.SubElement(
        element,
        "testcase",
        {
            "classname": result.suite.name,
            "name": result.case.spec.name,
            "file": result.suite.file,
            "line": str(result.case.line),
        },
    )
    failed = [check for check in result.checks if not check.ok]
    if failed:
        failure = ET.SubElement(
            case,
            "failure",
            {
                "type": "expectation",
                "message": "; ".join(
                    f"{check.label}: expected {check.expected}, got {check.actual}"
                    for check in failed
                ),
            },
        )
        failure.text = "\n".join(
            line for check in failed for line in (f"{check.label}:", *check.diff)
        )


def _error_element(element: ET.Element, error: SuiteError) -> None:
    case = ET.SubElement(
        element,
        "testcase",
        {"classname": error.file, "name": f"line {error.line}" if error.line else "file"},
    )
    ET.SubElement(case, "error", {"type": "bad input", "message": error.reason}).text = str(error)


def render_junit(report: RunReport) -> bytes:
    root = ET.Element("testsuites", {"name": "policy-webhook test"})
    groups: dict[tuple[str, str], tuple[list[CaseResult], list[SuiteError]]] = {}
    for result in report.results:
        groups.setdefault((result.suite.file, result.suite.name), ([], []))[0].append(result)
    for error in report.errors:
        group = next((key for key in groups if key[0] == error.file), (error.file, error.file))
        groups.setdefault(group, ([], []))[1].append(error)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for (file, name), (results, errors) in sorted(groups.items()):
        element = ET.SubElement(root, "testsuite", {"name": name, "file": file})
        for result in results:
            _case_element(element, result)
        for error in errors:
            _error_element(element, error)
        counts = {
            "tests": len(results) + len(errors),
            "failures": sum(1 for result in results if not result.passed),
            "errors": len(errors),
        }
        for key, value in counts.items():
            element.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"
