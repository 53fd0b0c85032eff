"""Mutation: the `spec.mutate[].defaults` of matching policies set where fields are missing; pure.

Defaults never overwrite what the author set (a null counts as missing) and are applied to
the pod spec and every container and init container of Pods and of the pod template of every
workload kind. A default limit below the author's request (or a default request above the
author's limit) is left out, so a default never makes an object invalid. Applying the same
mutations twice changes nothing the second time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from webhook.engine import build_context, matching_policies
from webhook.policy.compiled import PolicySet
from webhook.quantity import QuantityError, parse_quantity
from webhook.review import AdmissionRequest
from webhook.workload import pod_template_path

JSONObject = dict[str, Any]
MUTATED_LISTS = ("initContainers", "containers")
# Kinds whose pod template cannot change after creation: an UPDATE patch would be rejected.
IMMUTABLE_TEMPLATES = frozenset({("", "Pod"), ("batch", "Job")})


def pod_spec_keys(group: str, kind: str) -> tuple[str, ...] | None:
    """The keys from an object of this kind to its pod spec, or None for other kinds."""
    keys = pod_template_path(group, kind)
    return None if keys is None else (*keys, "spec")


def mutable(request: AdmissionRequest) -> bool:
    """Whether /mutate may change this request's object at all."""
    if request.object is None or request.subResource:
        return False
    if request.operation == "CREATE":
        return True
    if request.operation != "UPDATE":
        return False
    if (request.kind.group, request.kind.kind) in IMMUTABLE_TEMPLATES:
        return False
    metadata = request.object.get("metadata")
    return not (isinstance(metadata, dict) and metadata.get("deletionTimestamp"))


def apply_mutations(
    request: AdmissionRequest,
    policies: PolicySet,
    *,
    namespace_labels: Mapping[str, str] | None = None,
) -> tuple[JSONObject | None, list[str]]:
    """The object after every matching mutation, and `policy/mutation` of those that changed it.

    The request's object is not modified; when nothing changes it is returned as it is.
    """
    obj = request.object
    keys = pod_spec_keys(request.kind.group, request.kind.kind)
    if obj is None or keys is None or not mutable(request):
        return obj, []
    candidates = policies.candidates(request.kind.kind, request.operation)
    if not any(policy.mutations for policy in candidates):
        return obj, []
    context = build_context(request, namespace_labels=namespace_labels)
    selected = [policy for policy in matching_policies(context, policies) if policy.mutations]
    spec = _child(obj, keys)
    if not selected or spec is None:
        return obj, []
    new_spec = copy.deepcopy(spec)
    applied: list[str] = []
    for policy in selected:
        for mutation in policy.mutations:
            if _apply(new_spec, mutation.defaults):
                applied.append(f"{policy.name}/{mutation.name}")
    if not applied:
        return obj, []
    return _replaced(obj, keys, new_spec), applied


def _child(obj: JSONObject, keys: tuple[str, ...]) -> JSONObject | None:
    node: Any = obj
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _replaced(obj: JSONObject, keys: tuple[str, ...], value: JSONObject) -> JSONObject:
    """A copy of `obj` with the value at `keys` replaced; only the dicts on the way are copied."""
    if not keys:
        return value
    head, rest = keys[0], keys[1:]
    copied = dict(obj)
    copied[head] = _replaced(obj[head], rest, value)
    return copied


def _apply(spec: JSONObject, defaults: Mapping[str, Any]) -> bool:
    changed = fill_missing(spec, defaults.get("pod") or {})
    container_defaults = defaults.get("containers") or {}
    if container_defaults:
        for list_name in MUTATED_LISTS:
            entries = spec.get(list_name)
            if not isinstance(entries, list):
                continue
            for container in entries:
                if isinstance(container, dict):
                    fitting = _fitting_resources(container, container_defaults)
                    changed = fill_missing(container, fitting) or changed
    return changed


def fill_missing(target: JSONObject, defaults: Mapping[str, Any]) -> bool:
    """Set each default whose key is missing (or null) in `target`, recursing into mappings."""
    changed = False
    for key, value in defaults.items():
        current = target.get(key)
        if current is None:
            target[key] = copy.deepcopy(value)
            changed = True
        elif isinstance(current, dict) and isinstance(value, Mapping):
            changed = fill_missing(current, value) or changed
    return changed


def _fitting_resources(container: JSONObject, defaults: Mapping[str, Any]) -> Mapping[str, Any]:
    """`defaults` without the resource defaults that would contradict the author's values."""
    resources = defaults.get("resources")
    own = container.get("resources")
    if not isinstance(resources, Mapping) or not isinstance(own, dict):
        return defaults
    own_requests = _mapping(own.get("requests"))
    own_limits = _mapping(own.get("limits"))
    limits = {
        name: value
        for name, value in (resources.get("limits") or {}).items()
        if not _exceeds(own_requests.get(name), value)
    }
    requests = {
        name: value
        for name, value in (resources.get("requests") or {}).items()
        if not _exceeds(value, own_limits.get(name))
    }
    fitted = dict(resources)
    for section, values in (("limits", limits), ("requests", requests)):
        if values:
            fitted[section] = values
        else:
            fitted.pop(section, None)
    return {**defaults, "resources": fitted} if fitted else _without(defaults, "resources")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _without(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return {name: value for name, value in mapping.items() if name != key}


def _exceeds(request: Any, limit: Any) -> bool:
    """True when both quantities are given and the request is above the limit."""
    if request is None or limit is None:
        return False
    try:
        return parse_quantity(str(request)) > parse_quantity(str(limit))
    except QuantityError:
        return False
