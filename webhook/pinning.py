"""Digest pinning for /mutate: JSON Patch operations that pin verified images; pure.

For every matching `imageSignatures` rule with `pinDigest: true`, an image given by tag whose
signature verified is rewritten to `name@sha256:...`, the digest that was verified, so what
was verified is what runs. Images already pinned by digest are left as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch

from webhook.engine import build_context, matching_policies, rule_applies
from webhook.policy.compiled import PolicySet
from webhook.review import AdmissionRequest

JSONObject = dict[str, Any]
Pin = tuple[str, JSONObject]  # ("policy/rule", JSON Patch operation)


def wants_pins(request: AdmissionRequest, policies: PolicySet) -> bool:
    """Whether a policy that may match this request pins digests (cheap; no matching done)."""
    return any(
        rule.check.patches is not None
        for policy in policies.candidates(request.kind.kind, request.operation)
        for rule in policy.rules
    )


def digest_pins(
    request: AdmissionRequest,
    policies: PolicySet,
    *,
    lookups: Mapping[Any, Any],
    namespace_labels: Mapping[str, str] | None = None,
) -> list[Pin]:
    """JSON Patch `replace` operations on container images, one per path, in rule order."""
    if not wants_pins(request, policies):
        return []
    context = build_context(request, namespace_labels=namespace_labels, lookups=lookups)
    pins: dict[str, Pin] = {}
    for policy in matching_policies(context, policies):
        for rule in policy.rules:
            if rule.check.patches is None or not rule_applies(rule, context):
                continue
            for operation in rule.check.patches(context):
                pins.setdefault(str(operation["path"]), (f"{policy.name}/{rule.name}", operation))
    return list(pins.values())


def apply_pins(obj: JSONObject, pins: Sequence[Pin]) -> JSONObject:
    """A copy of `obj` with the pins applied; raises jsonpatch.JsonPatchException."""
    patched: JSONObject = jsonpatch.apply_patch(obj, [operation for _, operation in pins])
    return patched
