"""Field paths (JSON Pointers, `*` for any one key or index), the fields the API server fills in,
and the changed fields between an object's old and new versions. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Path = tuple[str, ...]
MISSING: Any = object()

# Written by the API server, never by Git: not compared, not counted as a change.
SERVER_FIELDS = (
    "/status",
    "/metadata/resourceVersion",
    "/metadata/uid",
    "/metadata/generation",
    "/metadata/creationTimestamp",
    "/metadata/managedFields",
    "/metadata/selfLink",
    "/metadata/deletionTimestamp",
    "/metadata/deletionGracePeriodSeconds",
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
)


def parse_pointer(text: str) -> Path:
    """`/spec/template/metadata/annotations/a~1b` -> its tokens; raises ValueError if malformed."""
    if not text.startswith("/"):
        raise ValueError(f"field path {text!r} must be a JSON Pointer starting with /")
    tokens = text[1:].split("/")
    for token in tokens:
        if not token:
            raise ValueError(f"field path {text!r} has an empty segment")
        if "~" in token.replace("~0", "").replace("~1", ""):
            raise ValueError(f"field path {text!r}: ~ must be escaped as ~0 (and / as ~1)")
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in tokens)


def pointer(path: Sequence[str | int]) -> str:
    return "".join("/" + str(token).replace("~", "~0").replace("/", "~1") for token in path)


@dataclass(frozen=True, slots=True)
class FieldSet:
    """Field paths and everything below them; a `*` segment matches any one key or index."""

    paths: tuple[Path, ...]

    @classmethod
    def parse(cls, pointers: Sequence[str]) -> FieldSet:
        return cls(tuple(parse_pointer(text) for text in pointers))

    def __add__(self, other: FieldSet) -> FieldSet:
        return FieldSet(tuple(dict.fromkeys((*self.paths, *other.paths))))

    def covers(self, path: Sequence[str]) -> bool:
        return any(
            len(pattern) <= len(path)
            and all(token in ("*", step) for token, step in zip(pattern, path, strict=False))
            for pattern in self.paths
        )


SERVER_FIELD_SET = FieldSet.parse(SERVER_FIELDS)


def value_at(value: Any, path: Sequence[str]) -> Any:
    """The value at `path`, or MISSING."""
    for token in path:
        if isinstance(value, dict):
            value = value.get(token, MISSING)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def changed_paths(old: Any, new: Any, *, skip: FieldSet, path: Path = ()) -> Iterator[Path]:
    """The deepest paths where `new` differs from `old`, except those `skip` covers.

    A list whose length changed is one change at the list's path; a map or list that appears or
    disappears is compared with an empty one, so its fields are listed one by one.
    """
    if skip.covers(path):
        return
    if isinstance(old, dict) or isinstance(new, dict):
        if old is MISSING or old is None:
            old = {}
        if new is MISSING or new is None:
            new = {}
        if isinstance(old, dict) and isinstance(new, dict):
            for key in dict.fromkeys([*old, *new]):
                yield from changed_paths(
                    old.get(key, MISSING), new.get(key, MISSING), skip=skip, path=(*path, key)
                )
            return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            yield from changed_paths(before, after, skip=skip, path=(*path, str(index)))
        return
    if old != new or type(old) is not type(new):
        yield path
