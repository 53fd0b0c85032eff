"""When a value Git declares and the value the API server holds mean the same; pure.

The API server normalizes what it stores: quantities (`1000m` becomes `1`, `0.5` becomes
`500m`), and Go drops zero values (`false`, `0`, `""`, empty lists and maps) of optional
fields. Int-or-string fields accept `80` and `"80"`; a mutating webhook may pin an image tag
to its digest (`app:1.0` becomes `app:1.0@sha256:...`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webhook.quantity import QuantityError, parse_quantity

# Maps whose values are resource quantities (resources.requests, ResourceQuota spec.hard, ...).
QUANTITY_MAPS = frozenset(
    {
        "requests",
        "limits",
        "hard",
        "default",
        "defaultRequest",
        "max",
        "min",
        "maxLimitRequestRatio",
        "capacity",
        "overhead",
    }
)
# Fields that are quantities wherever they appear (emptyDir.sizeLimit, HPA metric targets).
QUANTITY_FIELDS = frozenset({"sizeLimit", "averageValue"})
# IntOrString fields of the built-in kinds (ports of probes, Services and NetworkPolicies,
# rolling-update and PodDisruptionBudget bounds).
INT_OR_STRING_FIELDS = frozenset(
    {"port", "targetPort", "maxSurge", "maxUnavailable", "minAvailable"}
)
DIGEST_SEPARATOR = "@sha256:"


def is_zero(value: Any) -> bool:
    """A value Go omits when it serializes an optional field: the field may as well be absent."""
    if value is None or value is False or value == "" or value == [] or value == {}:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_quantity_field(path: Sequence[str]) -> bool:
    if not path:
        return False
    key = path[-1]
    parent = path[-2] if len(path) > 1 else ""
    return (
        parent in QUANTITY_MAPS or key in QUANTITY_FIELDS or (parent == "target" and key == "value")
    )


def _same_quantity(git: Any, live: Any) -> bool:
    if not isinstance(git, str | int | float) or not isinstance(live, str | int | float):
        return False
    try:
        return parse_quantity(git) == parse_quantity(live)
    except QuantityError:
        return False


def equivalent(git: Any, live: Any, path: Sequence[str]) -> bool:
    """Whether scalar `git` and `live` at `path` mean the same to the API server."""
    if _number(git) and _number(live):
        return bool(git == live)
    if type(git) is type(live) and git == live:
        return True
    key = path[-1] if path else ""
    if _is_quantity_field(path) and _same_quantity(git, live):
        return True
    if key in INT_OR_STRING_FIELDS:
        if isinstance(git, int) and isinstance(live, str) and not isinstance(git, bool):
            return live.isdigit() and int(live) == git
        if isinstance(git, str) and isinstance(live, int) and not isinstance(live, bool):
            return git.isdigit() and int(git) == live
    if key == "image" and isinstance(git, str) and isinstance(live, str):
        return DIGEST_SEPARATOR not in git and live.startswith(git + DIGEST_SEPARATOR)
    return False
