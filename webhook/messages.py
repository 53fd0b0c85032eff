"""Rule message templates: `{kind}`, `{name}`, `{namespace}`, `{container}`, `{detail}`; pure."""

from __future__ import annotations

import re

from webhook.checks.base import EvaluationContext

_PLACEHOLDER = re.compile(r"\{(kind|name|namespace|container|detail)\}")


def format_message(
    template: str, ctx: EvaluationContext, *, container: str | None = None, detail: str = ""
) -> str:
    """Fill the placeholders a rule's message may use; unknown braces are left as written."""
    metadata = ctx.metadata
    name = ctx.request.name or str(metadata.get("name") or metadata.get("generateName") or "")
    values = {
        "kind": ctx.kind,
        "name": name,
        "namespace": ctx.request.namespace,
        "container": container or "",
        "detail": detail,
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
