"""A Kubernetes object's top level and metadata as msgspec Structs, with `metadata.managedFields`
kept as raw JSON: decoding an object into these skips its managedFields (about two thirds of
a typical object's bytes, many tiny maps) instead of building them; pure.

The keys are those of the API's types, in the order the API server writes them. An object with
any other key at its top level or in its metadata fails to decode into `ObjectHead` (unknown
keys are errors) and is decoded in full instead. Skipping checks the JSON syntax of
managedFields but not what a full decode would refuse inside it: strings that are not UTF-8
(so a value that is not ASCII is decoded in full) and numbers out of range (never sent by the
API server, which decoded the object itself).
"""

from __future__ import annotations

from typing import Any, final

import msgspec
from msgspec import UNSET, UnsetType

JSONObject = dict[str, Any]


class ObjectMeta(msgspec.Struct, forbid_unknown_fields=True):
    """metadata (ObjectMeta), every value as decoded in full but managedFields."""

    name: Any = UNSET
    generateName: Any = UNSET
    namespace: Any = UNSET
    selfLink: Any = UNSET
    uid: Any = UNSET
    resourceVersion: Any = UNSET
    generation: Any = UNSET
    creationTimestamp: Any = UNSET
    deletionTimestamp: Any = UNSET
    deletionGracePeriodSeconds: Any = UNSET
    labels: Any = UNSET
    annotations: Any = UNSET
    ownerReferences: Any = UNSET
    finalizers: Any = UNSET
    managedFields: msgspec.Raw | UnsetType = UNSET


@final
class ObjectHead(msgspec.Struct, forbid_unknown_fields=True):
    """The top-level keys of the built-in kinds (TypeMeta, metadata, spec and status, and those
    of the kinds without a spec), every value but metadata as decoded in full."""

    kind: Any = UNSET
    apiVersion: Any = UNSET
    metadata: ObjectMeta | UnsetType = UNSET
    spec: Any = UNSET
    status: Any = UNSET
    # ConfigMap, Secret
    immutable: Any = UNSET
    data: Any = UNSET
    binaryData: Any = UNSET
    stringData: Any = UNSET
    type: Any = UNSET
    # PodTemplate
    template: Any = UNSET
    # ServiceAccount
    secrets: Any = UNSET
    imagePullSecrets: Any = UNSET
    automountServiceAccountToken: Any = UNSET
    # Role, ClusterRole, RoleBinding, ClusterRoleBinding
    rules: Any = UNSET
    aggregationRule: Any = UNSET
    subjects: Any = UNSET
    roleRef: Any = UNSET
    # Validating/MutatingWebhookConfiguration
    webhooks: Any = UNSET
    # Endpoints, EndpointSlice
    subsets: Any = UNSET
    addressType: Any = UNSET
    endpoints: Any = UNSET
    ports: Any = UNSET
    # PriorityClass
    value: Any = UNSET
    globalDefault: Any = UNSET
    description: Any = UNSET
    preemptionPolicy: Any = UNSET
    # StorageClass
    provisioner: Any = UNSET
    parameters: Any = UNSET
    reclaimPolicy: Any = UNSET
    mountOptions: Any = UNSET
    allowVolumeExpansion: Any = UNSET
    volumeBindingMode: Any = UNSET
    allowedTopologies: Any = UNSET
    # RuntimeClass
    handler: Any = UNSET
    overhead: Any = UNSET
    scheduling: Any = UNSET
    # ControllerRevision
    revision: Any = UNSET


_KEYS = ObjectHead.__struct_fields__
_COMMON = 5  # kind, apiVersion, metadata, spec, status: most objects have no other key
_RARE = len(_KEYS) - _COMMON
_values = msgspec.structs.astuple


def skippable(head: ObjectHead) -> bool:
    """Whether the skipped managedFields may stay skipped: a value that is not ASCII may hold
    a string that is not UTF-8 (the object is then decoded in full, which tells)."""
    metadata = head.metadata
    if metadata is UNSET:
        return True
    managed = metadata.managedFields
    return managed is UNSET or bytes(managed).isascii()


def without_managed_fields(head: ObjectHead) -> JSONObject:
    """The object as a full decode gives it, less `metadata.managedFields`.

    This runs for every request evaluated: the keys are copied one by one, which costs about
    half the instructions of comprehensions over `zip` (a function call and a loop per key).
    """
    values = _values(head)
    if values[_COMMON:].count(UNSET) != _RARE:  # a key other than the common ones
        obj = {key: value for key, value in zip(_KEYS, values, strict=True) if value is not UNSET}
        if head.metadata is not UNSET:
            obj["metadata"] = _metadata(head.metadata)
        return obj
    kind, api_version, metadata, spec, status = values[:_COMMON]
    obj = {}
    if kind is not UNSET:
        obj["kind"] = kind
    if api_version is not UNSET:
        obj["apiVersion"] = api_version
    if metadata is not UNSET:
        obj["metadata"] = _metadata(metadata)
    if spec is not UNSET:
        obj["spec"] = spec
    if status is not UNSET:
        obj["status"] = status
    return obj


def _metadata(metadata: ObjectMeta) -> JSONObject:
    """metadata as a dict, in the keys' order, without managedFields."""
    (
        name,
        generate_name,
        namespace,
        self_link,
        uid,
        resource_version,
        generation,
        creation_timestamp,
        deletion_timestamp,
        deletion_grace_period_seconds,
        labels,
        annotations,
        owner_references,
        finalizers,
        _,  # managedFields
    ) = _values(metadata)
    meta: JSONObject = {}
    if name is not UNSET:
        meta["name"] = name
    if generate_name is not UNSET:
        meta["generateName"] = generate_name
    if namespace is not UNSET:
        meta["namespace"] = namespace
    if self_link is not UNSET:
        meta["selfLink"] = self_link
    if uid is not UNSET:
        meta["uid"] = uid
    if resource_version is not UNSET:
        meta["resourceVersion"] = resource_version
    if generation is not UNSET:
        meta["generation"] = generation
    if creation_timestamp is not UNSET:
        meta["creationTimestamp"] = creation_timestamp
    if deletion_timestamp is not UNSET:
        meta["deletionTimestamp"] = deletion_timestamp
    if deletion_grace_period_seconds is not UNSET:
        meta["deletionGracePeriodSeconds"] = deletion_grace_period_seconds
    if labels is not UNSET:
        meta["labels"] = labels
    if annotations is not UNSET:
        meta["annotations"] = annotations
    if owner_references is not UNSET:
        meta["ownerReferences"] = owner_references
    if finalizers is not UNSET:
        meta["finalizers"] = finalizers
    return meta
