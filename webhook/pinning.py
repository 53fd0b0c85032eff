"""Digest pinning for /mutate: JSON Patch operations that pin verified images; pure.

For every matching `imageSignatures` rule with `pinDigest: true`, an image given by tag whose
signature verified is rewritten to `name@sha256:...`, the digest that was verified, so what
was verified is what runs. Images already pinned by digest are left as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.engine import build_context, matching_policies, rule_applies
from webhook.policy.compiled import PolicySet
from webhook.review import AdmissionRequest

JSONObject = dict[str, Any]


def digest_pins(
    request: AdmissionRequest,
    policies: PolicySet,
    *,
    lookups: Mapping[Any, Any],
    namespace_labels: Mapping[str, str] | None = None,
) -> list[JSONObject]:
    """JSON Patch `replace` operations on container images, one per path, in rule order."""
    if not policies.candidates(request.kind.kind, request.operation):
        return []
    context = build_context(request, namespace_labels=namespace_labels, lookups=lookups)
    operations: dict[str, JSONObject] = {}
    for policy in matching_policies(context, policies):
        for rule in policy.rules:
            if rule.check.patches is None or not rule_applies(rule, context):
                continue
            for operation in rule.check.patches(context):
                operations.setdefault(str(operation["path"]), operation)
    return list(operations.values())
