"""JSON Patch (RFC 6902) documents between an object and its mutated copy, built with jsonpatch.

A mutated copy shares the unchanged parts of the original (see `mutation`), so only the
subtree where the two diverge is diffed: the cost does not grow with the rest of the object.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import msgspec

from webhook.workload import escape_pointer

JSONObject = dict[str, Any]
_encoder = msgspec.json.Encoder()


def diverging_root(original: Any, mutated: Any) -> list[str]:
    """Keys down to the deepest mapping under which every difference lies (by identity)."""
    keys: list[str] = []
    while isinstance(original, dict) and isinstance(mutated, dict):
        if original.keys() != mutated.keys():
            break
        changed = [key for key in original if original[key] is not mutated[key]]
        if len(changed) != 1:
            break
        key = changed[0]
        if not (isinstance(original[key], dict) and isinstance(mutated[key], dict)):
            break
        keys.append(key)
        original, mutated = original[key], mutated[key]
    return keys


def build_patch(original: JSONObject, mutated: JSONObject) -> bytes | None:
    """The JSON Patch (JSON bytes) turning `original` into `mutated`, or None when equal."""
    root = diverging_root(original, mutated)
    source: Any = original
    target: Any = mutated
    for key in root:
        source, target = source[key], target[key]
    operations: list[dict[str, Any]] = jsonpatch.make_patch(source, target).patch
    if not operations:
        return None
    prefix = "".join(f"/{escape_pointer(key)}" for key in root)
    if prefix:
        for operation in operations:
            operation["path"] = prefix + operation["path"]
            if "from" in operation:
                operation["from"] = prefix + operation["from"]
    return _encoder.encode(operations)
