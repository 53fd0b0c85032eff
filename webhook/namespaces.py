"""Where the webhook gets namespace labels for `namespaceSelector`, and the source used when no
Kubernetes API is configured: the labels of the Namespace objects the webhook itself admits.

AdmissionReviews do not carry the labels of the request's namespace. In a cluster they come
from the API (webhook.kube.namespaces); without one, this process remembers the labels of every
Namespace it admits (CREATE and UPDATE record them, DELETE forgets them; dry runs change
nothing), and a namespace it has not seen has `UnknownLabels`, never empty ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol

from webhook.policy.matching import UnknownLabels
from webhook.review import AdmissionRequest

MAX_NAMESPACES = 10_000
NOT_SEEN = "not admitted by this webhook since it started, and no Kubernetes API is configured"


class NamespaceSource(Protocol):
    """The labels of namespaces, for Admission."""

    async def labels(self, namespace: str) -> Mapping[str, str]:
        """The namespace's labels, or `UnknownLabels` saying why they are not known; never
        raises, and returns within the source's own deadline."""
        ...

    def observe(self, request: AdmissionRequest) -> None:
        """See a request the webhook admitted (a source may learn from Namespace objects)."""
        ...

    def pending(self) -> str | None:
        """What the source still waits for before it answers correctly (for /readyz), or
        None when it is ready."""
        ...


def is_namespace(request: AdmissionRequest) -> bool:
    kind = request.kind
    return kind.kind == "Namespace" and kind.group == ""


class NamespaceLabels:
    """A bounded map namespace -> labels fed by admitted Namespace objects, least recently
    updated first out."""

    def __init__(self, *, max_entries: int = MAX_NAMESPACES) -> None:
        self._labels: OrderedDict[str, Mapping[str, str]] = OrderedDict()
        self._max = max_entries

    async def labels(self, namespace: str) -> Mapping[str, str]:
        return self.get(namespace)

    def pending(self) -> str | None:
        return None

    def get(self, namespace: str) -> Mapping[str, str]:
        """The namespace's labels, or `UnknownLabels` when it was not seen."""
        found = self._labels.get(namespace)
        return found if found is not None else UnknownLabels(namespace, NOT_SEEN)

    def set(self, namespace: str, labels: Mapping[str, str]) -> None:
        self._labels[namespace] = dict(labels)
        self._labels.move_to_end(namespace)
        while len(self._labels) > self._max:
            self._labels.popitem(last=False)

    def forget(self, namespace: str) -> None:
        self._labels.pop(namespace, None)

    def observe(self, request: AdmissionRequest) -> None:
        """Record the labels of a Namespace being created or updated; forget a deleted one."""
        if not is_namespace(request) or request.subResource or request.dryRun:
            return
        if request.operation == "DELETE":
            self.forget(request.name)
            return
        obj = request.object
        if obj is None:
            return
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            return
        name = metadata.get("name") or request.name
        labels = metadata.get("labels")
        if isinstance(name, str) and name:
            self.set(
                name,
                {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
            )

    def __len__(self) -> int:
        return len(self._labels)
