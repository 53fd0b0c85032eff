"""The object as a policy set's checks read it: a decode that builds only those parts; pure.

A check that reads nothing of the object but its metadata and some of its pod spec and of
each container says what (`PodReads`): keys whose values it reads whole, or paths into them
(`livenessProbe.httpGet.host`; `ports[].hostPort` for a key of every entry of a list). When
every check the webhook runs does, /validate decodes the object into TypedDicts of just those
and of the metadata read (METADATA_KEYS): the same dicts, values and order as a full decode
gives, less every other key (the containers' env, resources and volume mounts, a probe's
timings, the workload's replicas, the status, the owner references...), which are skipped
rather than built and freed.

A body the projection cannot take is decoded as before: a value of another type (null too)
where a TypedDict or list is declared (a ValidationError here), and a body that is not ASCII
(skipped strings are not checked for UTF-8, which the full decode refuses).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypedDict

import msgspec

from webhook.review import AdmissionRequest, AdmissionReview
from webhook.workload import CONTAINER_LISTS

# TypedDicts made at run time from the keys checks declare (a type checker needs literals).
_typed_dict: Any = TypedDict

# What is read of the metadata (of the object and of its pod template) when every check
# declares its reads: the name in messages, the labels for match blocks, PolicyExceptions and
# the namespace mirror, the annotations for AppArmor; the namespace as a Pod has it. No check
# that declares its reads reads the rest (uid, ownerReferences, managedFields...), so it is
# skipped.
METADATA_KEYS = ("name", "generateName", "namespace", "labels", "annotations")


@dataclass(frozen=True, slots=True)
class PodReads:
    """What a check reads of a pod spec and of each container, for a check that reads nothing
    else of the object but the metadata of the object and of its pod template: keys, whose
    values it reads whole, or paths of keys into objects, `[]` after a key standing for every
    entry of its list (`ports[].hostPort`: the list whole, of each entry only its hostPort)."""

    spec: frozenset[str] = frozenset()
    container: frozenset[str] = frozenset()

    def __or__(self, other: PodReads) -> PodReads:
        return PodReads(self.spec | other.spec, self.container | other.container)


def pod_reads(spec: tuple[str, ...] = (), container: tuple[str, ...] = ()) -> PodReads:
    return PodReads(frozenset(spec), frozenset(container))


# What every pod check reads through its pod view (webhook.workload.pod_view).
VIEW_READS = pod_reads(
    spec=("securityContext", "os", "hostUsers", *CONTAINER_LISTS),
    container=("name", "securityContext"),
)


def union(reads: list[PodReads | None]) -> PodReads | None:
    """What checks with these reads read together; None when one may read anything."""
    total = VIEW_READS
    for read in reads:
        if read is None:
            return None
        total = total | read
    return total


# A path's step into every entry of a list, and the tree of paths: a key read whole, or the
# steps read into it.
EACH = "[]"
_WHOLE = None
_Tree = dict[str, "_Tree | None"]


def read_steps(path: str) -> tuple[str, ...]:
    """A declared read path as its steps: `ports[].hostPort` is ("ports", EACH, "hostPort")."""
    return tuple(path.replace(EACH, "." + EACH).split("."))


def _tree(paths: frozenset[str]) -> _Tree:
    """The paths as a tree: a key read whole (by one path) is whole whatever else is read."""
    tree: _Tree = {}
    for path in sorted(paths):
        node = tree
        steps = read_steps(path)
        for step in steps[:-1]:
            child = node.setdefault(step, {})
            if child is _WHOLE:
                break
            node = child
        else:
            node[steps[-1]] = _WHOLE
    return tree


def _type(name: str, node: _Tree | None) -> Any:
    """The type that decodes what `node` reads: Any for a value read whole, a list of what
    is read of each entry, or a TypedDict of the keys read."""
    if node is _WHOLE:
        return Any
    if EACH in node:
        if len(node) > 1:
            raise ValueError(f"{name} is read both as a list and as an object")
        return list[_type(name, node[EACH])]  # type: ignore[misc]
    return _typed_dict(name, _fields(name, node), total=False)


def _fields(name: str, node: _Tree) -> dict[str, Any]:
    return {key: _type(f"{name}_{key}", child) for key, child in sorted(node.items())}


@functools.lru_cache(maxsize=64)  # one per distinct policy set's reads
def review_decoder(reads: PodReads) -> msgspec.json.Decoder[AdmissionReview]:
    """The decoder of AdmissionReviews whose object holds what `reads` name, and its metadata."""
    container = _type("ProjectedContainer", _tree(reads.container))
    spec_reads = _tree(reads.spec)
    for name in CONTAINER_LISTS:
        spec_reads.pop(name, None)
    pod_spec = _fields("ProjectedPodSpec", spec_reads)
    pod_spec.update(dict.fromkeys(CONTAINER_LISTS, list[container]))  # type: ignore[valid-type]
    metadata = _typed_dict("ProjectedMetadata", dict.fromkeys(METADATA_KEYS, Any), total=False)
    template = _typed_dict(
        "ProjectedTemplate",
        {"metadata": metadata, "spec": _typed_dict("ProjectedPodSpec", pod_spec, total=False)},
        total=False,
    )
    job_spec = _typed_dict("ProjectedJobSpec", {"template": template}, total=False)
    job_template = _typed_dict("ProjectedJobTemplate", {"spec": job_spec}, total=False)
    # One spec for every kind: a Pod's keys, and the workloads' templates (unknown keys skip).
    spec = _typed_dict(
        "ProjectedSpec",
        {**pod_spec, "template": template, "jobTemplate": job_template},
        total=False,
    )
    head = _typed_dict(
        "ProjectedObject",
        {
            "kind": Any,
            "apiVersion": Any,
            "metadata": metadata,
            "spec": spec,
            "template": template,  # PodTemplate
        },
        total=False,
    )
    request = msgspec.defstruct(
        "ProjectedRequest",
        [("new_object", head | None, msgspec.field(default=None, name="object"))],
        bases=(AdmissionRequest,),
        frozen=True,
        dict=True,
    )
    review = msgspec.defstruct(
        "ProjectedReview", [("request", request)], bases=(AdmissionReview,), frozen=True
    )
    return msgspec.json.Decoder(review)
