"""The Kubernetes API objects the namespace source reads, as typed msgspec structures.

Only the fields used are declared; the rest of each object is skipped while decoding. Shapes
are those of the core v1 API: a NamespaceList, a Namespace, a watch event
(`{"type": ..., "object": ...}`, one per line) and a Status.
"""

from __future__ import annotations

import msgspec


class ObjectMeta(msgspec.Struct, frozen=True):
    name: str = ""
    resourceVersion: str = ""
    labels: dict[str, str] | None = None  # omitted when empty


class Namespace(msgspec.Struct, frozen=True):
    metadata: ObjectMeta = ObjectMeta()

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.labels or {}


class ListMeta(msgspec.Struct, frozen=True):
    resourceVersion: str = ""
    continue_: str = msgspec.field(name="continue", default="")


class NamespaceList(msgspec.Struct, frozen=True):
    metadata: ListMeta = ListMeta()
    items: list[Namespace] | None = None


class Status(msgspec.Struct, frozen=True):
    """An API error: `code` is the HTTP status, `reason` a CamelCase word (NotFound, Expired)."""

    kind: str = ""
    code: int = 0
    reason: str = ""
    message: str = ""


class WatchEvent(msgspec.Struct, frozen=True):
    """ADDED, MODIFIED, DELETED (a Namespace), BOOKMARK (only a resourceVersion) or ERROR (a
    Status); the object is decoded once its type is known."""

    type: str
    object: msgspec.Raw


NAMESPACE = msgspec.json.Decoder(Namespace)
NAMESPACE_LIST = msgspec.json.Decoder(NamespaceList)
STATUS = msgspec.json.Decoder(Status)
WATCH_EVENT = msgspec.json.Decoder(WatchEvent)
