"""Whether a request by someone other than a GitOps controller changes an object managed from
Git: creating, changing or deleting it, or changing its markers. Pure.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from webhook.findings import ObjectRef, Violation
from webhook.gitops.fields import FieldSet, Path, changed_paths, pointer
from webhook.gitops.markers import GitSource, MarkerKey, MarkerSet, ObjectIdentity
from webhook.review import AdmissionRequest

MAX_LISTED_PATHS = 5
_METADATA_KEYS = {"label": "labels", "annotation": "annotations"}


def marker_path(marker: MarkerKey) -> Path:
    return ("metadata", _METADATA_KEYS[marker.where], marker.key)


def _sources_text(sources: tuple[GitSource, ...]) -> str:
    return " and ".join(str(source) for source in sources)


def ownership_violations(
    request: AdmissionRequest,
    *,
    obj: dict[str, Any],
    group: str,
    kind: str,
    markers: MarkerSet,
    skip: FieldSet,
) -> list[Violation]:
    """The violations of a request by a non-controller; `obj` is the object (old for DELETE)."""
    metadata = obj.get("metadata")
    own_name = metadata.get("name") if isinstance(metadata, dict) else None
    name = request.name or (own_name if isinstance(own_name, str) else "")
    identity = ObjectIdentity(group, kind, request.namespace, name)
    ref = ObjectRef("", kind, request.namespace, name)
    user = request.userInfo.username or "an anonymous user"
    sources = markers.sources(obj, identity)
    if request.operation == "DELETE":
        if not sources:
            return []
        return [
            Violation(
                f"{user} may not delete {ref} by hand: it is managed from Git by "
                f"{_sources_text(sources)}. Remove it from Git and let the controller prune it",
                path=pointer(marker_path(sources[0].marker)),
            )
        ]
    if request.operation == "CREATE":
        if not sources:
            return []
        return [
            Violation(
                f"{user} may not create {ref} with the GitOps markers of {_sources_text(sources)}: "
                "add it to Git and let the controller apply it",
                path=pointer(marker_path(sources[0].marker)),
            )
        ]
    if request.operation != "UPDATE" or request.oldObject is None:
        return []
    old = request.oldObject
    old_sources = markers.sources(old, identity)
    managed = old_sources or sources
    if not managed:
        return []
    violations = []
    before, after = markers.values(old), markers.values(obj)
    if before != after:
        violations.append(_marker_violation(user, ref, before, after, managed))
    marker_fields = FieldSet(tuple(marker_path(marker) for marker in markers.keys))
    changed = list(changed_paths(old, obj, skip=skip + marker_fields))
    if changed:
        listed = ", ".join(pointer(path) for path in islice(changed, MAX_LISTED_PATHS))
        more = len(changed) - MAX_LISTED_PATHS
        listed += f" and {more} more" if more > 0 else ""
        violations.append(
            Violation(
                f"{user} may not change {ref} by hand: it is managed from Git by "
                f"{_sources_text(managed)}. Make the change in Git and let the controller apply "
                f"it (changed: {listed})",
                path=pointer(changed[0]),
            )
        )
    return violations


def _marker_violation(
    user: str,
    ref: ObjectRef,
    before: dict[MarkerKey, str],
    after: dict[MarkerKey, str],
    managed: tuple[GitSource, ...],
) -> Violation:
    details = []
    for marker in dict.fromkeys([*before, *after]):
        old, new = before.get(marker), after.get(marker)
        if old == new:
            continue
        if new is None:
            details.append(f"{marker} {old!r} removed")
        elif old is None:
            details.append(f"{marker} {new!r} added")
        else:
            details.append(f"{marker} changed from {old!r} to {new!r}")
    first = next(m for m in dict.fromkeys([*before, *after]) if before.get(m) != after.get(m))
    return Violation(
        f"{user} may not change the GitOps markers of {ref} ({'; '.join(details)}): they tie it "
        f"to {_sources_text(managed)}. To take it out of Git, remove it there with pruning "
        "disabled for it",
        path=pointer(marker_path(first)),
    )


def scale_violation(request: AdmissionRequest) -> Violation:
    """A manual scale, when the policy treats replicas as Git's (a Scale shows no markers)."""
    user = request.userInfo.username or "an anonymous user"
    where = f"{request.namespace}/" if request.namespace else ""
    return Violation(
        f"{user} may not scale {request.resource.resource} {where}{request.name} by hand: this "
        "policy keeps replicas in Git (the Scale the API server sends carries no GitOps "
        "markers, so every scale in its scope is checked). Change replicas in Git, or list "
        "/spec/replicas in writableFields where an autoscaler owns them",
        path="/spec/replicas",
    )
