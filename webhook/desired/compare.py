"""The differences between what Git declares and a requested object, in the fields Git sets; pure.

Only Git's fields are walked: what the API server and controllers add (defaults, status,
server metadata) is not Git's and is not compared. Lists of objects with a key field
(`name`, `containerPort`, `mountPath`, ...) are matched by key, as server-side apply does, so
Git owns the items it names; other lists are compared whole, item by item.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.desired.equality import equivalent, is_zero
from webhook.gitops.fields import MISSING, FieldSet, Path

LIST_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip", "topologyKey")


@dataclass(frozen=True, slots=True)
class Difference:
    """One field where the request differs from Git. `requested` is MISSING when absent."""

    path: Path
    git: Any
    requested: Any
    item: str = ""  # for a list item Git declares and the request lacks: `name=sidecar`


def differences(
    desired: Mapping[str, Any], requested: Mapping[str, Any], *, skip: FieldSet
) -> list[Difference]:
    """Every field Git sets that the request does not set to an equivalent value."""
    git = _comparable(desired)
    return list(_walk(git, requested, (), skip))


def _comparable(desired: Mapping[str, Any]) -> dict[str, Any]:
    """Git's object in the form the API server returns it (Secret stringData becomes data)."""
    git = dict(desired)
    git.pop("sops", None)  # SOPS metadata: encrypted values cannot be compared
    if "sops" in desired:
        git.pop("data", None)
        git.pop("stringData", None)
    group = str(git.get("apiVersion", "")).rpartition("/")[0]
    if git.get("kind") == "Secret" and group == "" and isinstance(git.get("stringData"), dict):
        existing = git.get("data")
        data: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
        for key, value in git.pop("stringData").items():
            if isinstance(value, str):
                data[key] = base64.b64encode(value.encode()).decode("ascii")
        git["data"] = data
    return git


def _walk(git: Any, live: Any, path: Path, skip: FieldSet) -> Iterator[Difference]:
    if skip.covers(path):
        return
    if live is MISSING or live is None:
        if is_zero(git):
            return
        if isinstance(git, dict):
            live = {}
        else:
            yield Difference(path, git, MISSING)
            return
    if isinstance(git, dict):
        if not isinstance(live, dict):
            yield Difference(path, git, live)
            return
        for key, value in git.items():
            yield from _walk(value, live.get(key, MISSING), (*path, key), skip)
        return
    if isinstance(git, list):
        yield from _walk_list(git, live, path, skip)
        return
    if not equivalent(git, live, path):
        yield Difference(path, git, live)


def _walk_list(git: list[Any], live: Any, path: Path, skip: FieldSet) -> Iterator[Difference]:
    if not isinstance(live, list):
        yield Difference(path, git, live)
        return
    key = _list_key(git)
    if key is None:
        if len(git) != len(live):
            yield Difference(path, git, live)
            return
        for index, (item, other) in enumerate(zip(git, live, strict=True)):
            yield from _walk(item, other, (*path, str(index)), skip)
        return
    positions: dict[str, int] = {}
    for index, other in enumerate(live):
        if isinstance(other, dict) and key in other:
            positions.setdefault(_scalar(other[key]), index)
    for item in git:
        found = positions.get(_scalar(item[key]))
        if found is None:
            yield Difference(path, item, MISSING, item=f"{key}={item[key]}")
        else:
            yield from _walk(item, live[found], (*path, str(found)), skip)


def _scalar(value: Any) -> str:
    return str(value)


def _list_key(items: list[Any]) -> str | None:
    """The field that identifies each item of a list of objects, if there is one."""
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in LIST_KEYS:
        values = [item.get(key) for item in items]
        scalars = all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
        if scalars and len({_scalar(value) for value in values}) == len(values):
            return key
    return None
