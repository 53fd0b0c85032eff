"""Namespace labels for `namespaceSelector`, cached from the Namespace objects the webhook sees.

AdmissionReviews do not carry the labels of the request's namespace, so the server remembers
the labels of every Namespace it admits (CREATE and UPDATE record them, DELETE forgets them;
dry runs change nothing). A namespace not seen since the start has no known labels and is
evaluated with empty labels: selectors with `In`/`Exists` do not match it, `NotIn` and
`DoesNotExist` do.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from webhook.review import AdmissionRequest

MAX_NAMESPACES = 10_000
_EMPTY: Mapping[str, str] = {}


class NamespaceLabels:
    """A bounded map namespace -> labels, least recently updated first out."""

    def __init__(self, *, max_entries: int = MAX_NAMESPACES) -> None:
        self._labels: OrderedDict[str, Mapping[str, str]] = OrderedDict()
        self._max = max_entries

    def get(self, namespace: str) -> Mapping[str, str]:
        """The namespace's labels, or empty labels when it was not seen."""
        return self._labels.get(namespace, _EMPTY)

    def set(self, namespace: str, labels: Mapping[str, str]) -> None:
        self._labels[namespace] = dict(labels)
        self._labels.move_to_end(namespace)
        while len(self._labels) > self._max:
            self._labels.popitem(last=False)

    def forget(self, namespace: str) -> None:
        self._labels.pop(namespace, None)

    def observe(self, request: AdmissionRequest) -> None:
        """Record the labels of a Namespace being created or updated; forget a deleted one."""
        kind = request.kind
        if kind.kind != "Namespace" or kind.group != "" or request.subResource or request.dryRun:
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
