"""The CEL rules of one policy set: those that may run on the same request share one activation
holding the union of what they read; pure.

Each activation costs a few microseconds to build, and a part of the object read by several
rules is converted once per activation. So the rules whose policies select a kind read one
copy pruned to everything they read together (a superset of what each reads gives each the
same result). A rule that reads a whole object keeps its own activation: the union would make
every other rule convert the whole object, even on requests where that rule does not run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.cel import CELProgram
from webhook.celpaths import Need, Selection, describe, union
from webhook.policy.matching import KindPattern

MAX_UNIONS = 1024  # kinds remembered; `check` may meet any number of made-up kinds
OBJECTS = ("object", "oldObject")


@dataclass(frozen=True, slots=True)
class Inputs:
    """What an activation holds of each variable, and a key naming it."""

    reads: Mapping[str, Selection]
    key: str
    shared: bool  # more than one rule may use the activation

    @classmethod
    def of(cls, reads: Mapping[str, Selection], *, shared: bool) -> Inputs:
        key = ";".join(f"{name}={describe(sel)}" for name, sel in reads.items())
        return cls(reads, key, shared)


class BoundedCache(dict[Any, Any]):
    """A dict that empties itself past MAX_UNIONS entries (`check` may meet any number of
    made-up kinds)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        if len(self) >= MAX_UNIONS:
            self.clear()
        super().__setitem__(key, value)


@dataclass(frozen=True, slots=True)
class _Member:
    program: CELProgram
    kinds: tuple[KindPattern, ...]  # the policy's own kinds (none: every kind)


# (group, kind, whether the object has a pod spec, whether rules see it as a Pod)
_Request = tuple[str, str, bool, bool]


class ExpressionGroup:
    """The CEL rules compiled into one policy set (added while it loads)."""

    def __init__(self) -> None:
        self._members: list[_Member] = []
        self._unions: dict[_Request, tuple[frozenset[int], Inputs]] = {}
        self._caches: list[BoundedCache] = []

    def add(self, program: CELProgram, kinds: tuple[KindPattern, ...]) -> None:
        self._members.append(_Member(program, kinds))
        self._unions.clear()
        for cache in self._caches:
            cache.clear()

    def cache(self) -> BoundedCache:
        """A cache of what a rule derives from `inputs`, emptied when a rule is added."""
        cache = BoundedCache()
        self._caches.append(cache)
        return cache

    def inputs(self, program: CELProgram, request: _Request) -> Inputs | None:
        """What the activation `program` shares on a request of this kind holds; None when it
        shares none (it reads a whole object)."""
        found = self._unions.get(request)
        if found is None:
            if len(self._unions) >= MAX_UNIONS:
                self._unions.clear()
            found = self._unions[request] = self._union(request)
        members, inputs = found
        return inputs if id(program) in members else None

    def _union(self, request: _Request) -> tuple[frozenset[int], Inputs]:
        members = [m for m in self._members if _shares(m) and _may_run(m, request)]
        reads: dict[str, Selection] = {}
        for member in members:
            for name, selection in member.program.reads.items():
                reads[name] = union(reads.get(name, Need.PRESENT), selection)
        inputs = Inputs.of(reads, shared=len(members) > 1)
        return frozenset(id(m.program) for m in members), inputs


def sees_pod(kinds: tuple[KindPattern, ...], group: str, kind: str, has_pod: bool) -> bool:
    """Whether a rule of a policy for `kinds` sees the pod template of this object as a Pod
    (the policy selects it only as a workload of Pods)."""
    return (
        has_pod
        and kind != "Pod"
        and bool(kinds)
        and not any(pattern.matches(group, kind) for pattern in kinds)
    )


def _shares(member: _Member) -> bool:
    return all(member.program.reads.get(name) is not Need.WHOLE for name in OBJECTS)


def _may_run(member: _Member, request: _Request) -> bool:
    group, kind, has_pod, as_pod = request
    if sees_pod(member.kinds, group, kind, has_pod) != as_pod:
        return False
    if as_pod:
        return any(pattern.matches("", "Pod") for pattern in member.kinds)
    return not member.kinds or any(pattern.matches(group, kind) for pattern in member.kinds)
