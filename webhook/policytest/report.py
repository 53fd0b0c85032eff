"""Text output of `policy-webhook test`: a results table and a diff per failure; pure.

Errors (bad input) are not part of it: the command writes them to stderr.
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook.policytest.runner import RunReport

HEADERS = ("SUITE", "CASE", "POLICY/RULE", "EXPECTED", "ACTUAL", "RESULT")
MAX_CELL = 60


def _cell(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns, as wide as their widest cell (long cells are shortened)."""
    cells = [[_cell(text) for text in row] for row in [HEADERS, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(HEADERS))]
    return [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]


def render_text(report: RunReport) -> str:
    rows = [
        (
            result.suite.name,
            result.case.spec.name,
            check.label,
            check.expected,
            check.actual,
            "PASS" if check.ok else "FAIL",
        )
        for result in report.results
        for check in result.checks
    ]
    lines = table(rows) if rows else []
    failed = report.failed
    if failed:
        lines += ["", "Failures:"]
        for result in failed:
            lines += [
                "",
                f"{result.suite.name} / {result.case.spec.name} "
                f"({result.suite.file}:{result.case.line})",
            ]
            for check in result.checks:
                if check.ok:
                    continue
                lines.append(f"  {check.label}: expected {check.expected}, got {check.actual}")
                lines += [f"    {line}" for line in check.diff]
    lines += ["", summary_line(report)]
    return "\n".join(lines) + "\n"


def summary_line(report: RunReport) -> str:
    checks = [check for result in report.results for check in result.checks]
    passed = sum(1 for check in checks if check.ok)
    return (
        f"{_count(report.suites, 'suite')}, {_count(len(report.results), 'case')}, "
        f"{_count(len(checks), 'expectation')}: {passed} passed, {len(checks) - passed} failed; "
        f"{_count(len(report.errors), 'error')}"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
