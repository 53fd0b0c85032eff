"""The object as a policy set's checks read it: a decode that builds only those parts; pure.

A check that reads nothing of the object but its metadata and some keys of its pod spec and of
each container says which (`PodReads`). When every check the webhook runs does, /validate
decodes the object into TypedDicts of just those keys and of the metadata read (METADATA_KEYS):
the same dicts, values and order as a full decode gives, less every other key (the containers'
env, resources and volume mounts, the workload's replicas, the status, the owner references...),
which are skipped rather than built and freed.

A body the projection cannot take is decoded as before: a value of another type where a
TypedDict or list is declared (a ValidationError here), and a body that is not ASCII (skipped
strings are not checked for UTF-8, which the full decode refuses).
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
    """The keys of a pod spec and of each container a check reads (their values whole), for a
    check that reads nothing else of the object but the metadata of the object and of its pod
    template."""

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


@functools.lru_cache(maxsize=64)  # one per distinct policy set's reads
def review_decoder(reads: PodReads) -> msgspec.json.Decoder[AdmissionReview]:
    """The decoder of AdmissionReviews whose object holds what `reads` name, and its metadata."""
    container = _typed_dict(
        "ProjectedContainer", dict.fromkeys(sorted(reads.container), Any), total=False
    )
    pod_spec: dict[str, Any] = dict.fromkeys(sorted(reads.spec - set(CONTAINER_LISTS)), Any)
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
