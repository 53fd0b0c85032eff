"""Rule message templates: `{kind}`, `{name}`, `{namespace}`, `{container}`, `{detail}`; pure."""

from __future__ import annotations

import functools
import re

from webhook.checks.base import EvaluationContext

_PLACEHOLDER = re.compile(r"\{(kind|name|namespace|container|detail)\}")


def format_message(
    template: str, ctx: EvaluationContext, *, container: str | None = None, detail: str = ""
) -> str:
    """Fill the placeholders a rule's message may use; unknown braces are left as written."""
    pieces = _pieces(template)
    if len(pieces) == 1:
        return template
    parts = [pieces[0]]
    for index in range(1, len(pieces), 2):
        placeholder = pieces[index]
        if placeholder == "kind":
            parts.append(ctx.kind)
        elif placeholder == "name":
            metadata = ctx.metadata
            parts.append(
                ctx.request.name or str(metadata.get("name") or metadata.get("generateName") or "")
            )
        elif placeholder == "namespace":
            parts.append(ctx.request.namespace)
        elif placeholder == "container":
            parts.append(container or "")
        else:
            parts.append(detail)
        parts.append(pieces[index + 1])
    return "".join(parts)


@functools.lru_cache(maxsize=4096)  # the templates of the loaded rules; pure
def _pieces(template: str) -> tuple[str, ...]:
    """The template split at its placeholders: text, placeholder, text, ..., text."""
    return tuple(_PLACEHOLDER.split(template))
