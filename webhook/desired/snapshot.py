"""An immutable index of the objects Git declares, by (group, kind, namespace, name); pure.

A `DesiredStateKey` names a directory in `EvaluationContext.lookups`; its value is the
directory's current `DesiredSnapshot`, or `DesiredStateUnavailable` saying why there is none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSONObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DesiredStateKey:
    """The lookup key of one directory of rendered manifests (an absolute path)."""

    path: str


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey | None:
        """The key of a manifest, or None when it has no kind or name."""
        kind = obj.get("kind")
        metadata = obj.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        name = metadata.get("name")
        if not isinstance(kind, str) or not kind or not isinstance(name, str) or not name:
            return None
        namespace = metadata.get("namespace")
        return cls(
            group=api_group(obj.get("apiVersion")),
            kind=kind,
            namespace=namespace if isinstance(namespace, str) else "",
            name=name,
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        group = f".{self.group}" if self.group else ""
        return f"{self.kind}{group} {where}{self.name}"


def api_group(api_version: object) -> str:
    text = api_version if isinstance(api_version, str) else ""
    return text.rpartition("/")[0]


def api_version_of(obj: Mapping[str, Any]) -> str:
    value = obj.get("apiVersion")
    return value.rpartition("/")[2] if isinstance(value, str) else ""


def guess_resource(kind: str) -> str:
    """The plural resource name of `kind`, as Kubernetes guesses it (UnsafeGuessKindToResource)."""
    singular = kind.lower()
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y"):
        return singular[:-1] + "ies"
    return singular + "s"


@dataclass(frozen=True, slots=True)
class DesiredObject:
    """One object as Git declares it, and where."""

    object: JSONObject
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class DesiredSnapshot:
    """Every object of one directory of rendered manifests, at one moment."""

    source: str  # the directory as read (symlinks resolved: one consistent checkout)
    objects: Mapping[ObjectKey, DesiredObject]
    files: int
    _by_name: dict[tuple[str, str, str], tuple[ObjectKey, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_name: dict[tuple[str, str, str], list[ObjectKey]] = {}
        for key in self.objects:
            by_name.setdefault((key.group, key.namespace, key.name), []).append(key)
        object.__setattr__(self, "_by_name", {k: tuple(v) for k, v in by_name.items()})

    def get(self, key: ObjectKey) -> DesiredObject | None:
        return self.objects.get(key)

    def by_resource(
        self, *, group: str, resource: str, namespace: str, name: str
    ) -> DesiredObject | None:
        """The object a subresource request (e.g. `deployments/scale`) is about, if Git has it."""
        for key in self._by_name.get((group, namespace, name), ()):
            if guess_resource(key.kind) == resource:
                return self.objects[key]
        return None


@dataclass(frozen=True, slots=True)
class DesiredStateUnavailable:
    """No desired state to compare with; rules that need it report an error, never allow."""

    source: str
    reason: str


DesiredState = DesiredSnapshot | DesiredStateUnavailable
