"""Rule message templates: each placeholder is filled, everything else is left as written."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import pod_spec, request, wrap
from webhook.checks.base import EvaluationContext
from webhook.engine import build_context
from webhook.messages import format_message

PLACEHOLDERS = ["{kind}", "{name}", "{namespace}", "{container}", "{detail}"]
OTHERS = ["{", "}", "{}", "{image}", "{{name}}", "{Name}", "{ name}", "\\", "\\1", "%s", "x"]


def reference(template: str, ctx: EvaluationContext, container: str | None, detail: str) -> str:
    """The templates' meaning, written the plain way: one substitution per placeholder."""
    metadata = ctx.metadata
    name = ctx.request.name or str(metadata.get("name") or metadata.get("generateName") or "")
    values = {
        "kind": ctx.kind,
        "name": name,
        "namespace": ctx.request.namespace,
        "container": container or "",
        "detail": detail,
    }
    pattern = re.compile(r"\{(kind|name|namespace|container|detail)\}")
    return pattern.sub(lambda match: values[match.group(1)], template)


def context(name: str = "web", generate: bool = False) -> EvaluationContext:
    obj = wrap("Deployment", pod_spec(), name=name, namespace="shop")
    if generate:
        del obj["metadata"]["name"]
        obj["metadata"]["generateName"] = "web-"
    return build_context(request(obj))


def test_placeholders_are_filled() -> None:
    ctx = context()
    text = format_message(
        "{kind} {namespace}/{name}: {container} {detail} {image}", ctx, container="app", detail="d"
    )
    assert text == "Deployment shop/web: app d {image}"


def test_generated_name_stands_for_a_missing_name() -> None:
    assert format_message("{name}", context(generate=True)) == "web-"


def test_template_without_placeholders_is_itself() -> None:
    template = "no {placeholders} here"
    assert format_message(template, context()) is template


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PLACEHOLDERS + OTHERS) | st.text(max_size=5), max_size=8),
    container=st.none() | st.text(max_size=5),
    detail=st.text(max_size=5),
    generate=st.booleans(),
)
def test_any_template_is_filled_as_by_substitution(
    pieces: list[str], container: str | None, detail: str, generate: bool
) -> None:
    template = "".join(pieces)
    ctx = context(generate=generate)
    expected = reference(template, ctx, container, detail)
    assert format_message(template, ctx, container=container, detail=detail) == expected
