"""GitHub Actions annotations for `check`: one workflow command per finding and bad file.

`::error file=F,line=L,title=T::message` (warning and notice for warn and audit rules), with
the manifest line of the offending field, escaped as the Actions toolkit does.
"""

from __future__ import annotations

from webhook.dryrun import CheckReport
from webhook.findings import Mode
from webhook.report.options import RenderOptions
from webhook.report.text import summary_line

COMMANDS = {Mode.ENFORCE: "error", Mode.WARN: "warning", Mode.AUDIT: "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message (toolkit `escapeData`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property's value (toolkit `escapeProperty`)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(
    command: str, message: str, *, file: str | None, line: int | None, title: str
) -> str:
    properties = []
    if file is not None:
        properties.append(f"file={escape_property(file)}")
        if line is not None:
            properties.append(f"line={line}")
    properties.append(f"title={escape_property(title)}")
    return f"::{command} {','.join(properties)}::{escape_data(message)}"


def annotation_lines(report: CheckReport, options: RenderOptions) -> list[str]:
    """One workflow command per failed finding and per file error."""
    lines: list[str] = []
    for error in report.errors:
        lines.append(
            workflow_command(
                "error",
                error.reason,
                file=_file(error.file, options),
                line=error.line,
                title="policy-webhook: invalid manifest",
            )
        )
    for result in report.objects:
        for finding in result.failures:
            message = finding.message
            if finding.path:
                message = f"{message} (field {finding.path})"
            lines.append(
                workflow_command(
                    COMMANDS[finding.mode],
                    message,
                    file=_file(result.manifest.file, options),
                    line=result.manifest.line_of(finding.path),
                    title=f"{finding.policy}/{finding.rule}: {result.ref}",
                )
            )
    return lines


def _file(file: str, options: RenderOptions) -> str | None:
    relative = options.relative(file)
    if relative is not None:
        return relative
    return None if file == "-" else file


def render_github(report: CheckReport, options: RenderOptions) -> str:
    """Annotations, then the summary line."""
    return "\n".join([*annotation_lines(report, options), summary_line(report)]) + "\n"
