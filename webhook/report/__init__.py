"""Reports of `check`, one module per format; every renderer is pure and returns a string.

A renderer takes the report, the policies it was checked against and the directory that
file names are shown relative to (`RenderOptions`). The JUnit renderer, which needs an XML
library, is imported when that format is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from webhook.dryrun import CheckReport
from webhook.report.github import annotation_lines, render_github
from webhook.report.gitlab import render_gitlab_sast
from webhook.report.json import render_json
from webhook.report.options import RenderOptions
from webhook.report.sarif import render_sarif
from webhook.report.text import render_text

Renderer = Callable[[CheckReport, RenderOptions], str]


def render_junit(report: CheckReport, options: RenderOptions) -> str:
    """JUnit XML (see `webhook.report.junit`)."""
    from webhook.report.junit import render_junit as render

    return render(report, options)


RENDERERS: Mapping[str, Renderer] = {
    "text": render_text,
    "json": render_json,
    "junit": render_junit,
    "sarif": render_sarif,
    "github": render_github,
    "gitlab-sast": render_gitlab_sast,
}

__all__ = [
    "RENDERERS",
    "RenderOptions",
    "Renderer",
    "annotation_lines",
    "render_github",
    "render_gitlab_sast",
    "render_json",
    "render_junit",
    "render_sarif",
    "render_text",
]
