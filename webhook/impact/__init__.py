"""Impact preview of a policy change (`policy-webhook diff`): comparison and its report formats."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from webhook.impact.compare import Change, ImpactReport, ObjectImpact, run_diff
from webhook.impact.json import render_json
from webhook.impact.markdown import render_markdown
from webhook.impact.text import render_text

RENDERERS: Mapping[str, Callable[[ImpactReport], str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
}

__all__ = ["RENDERERS", "Change", "ImpactReport", "ObjectImpact", "run_diff"]
