"""What every check shares: the evaluation context, the compiled form and the registry entry.

A check is compiled once from its typed parameters into a `CompiledCheck`, whose `run` is a
pure function from the context of one object to the violations found.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec
from pydantic import BaseModel, ConfigDict

from webhook.findings import Violation
from webhook.projection import PodReads
from webhook.review import AdmissionRequest
from webhook.workload import PodView

JSONObject = dict[str, Any]


class CheckParams(BaseModel):
    """Base of every check's parameters: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoParams(CheckParams):
    pass


# A frozen msgspec Struct rather than a frozen dataclass: one is built per request, and a
# frozen dataclass pays an object.__setattr__ per field (about as much as a small check).
class EvaluationContext(msgspec.Struct, frozen=True):
    """One object under evaluation, with everything a check may look at; built once per request."""

    request: AdmissionRequest
    group: str
    kind: str
    object: JSONObject  # the new object, or the old one for DELETE
    pod: PodView | None
    namespace_labels: Mapping[str, str]
    offline: bool  # True in `check` (manifests from Git), False in the webhook
    lookups: Mapping[Any, Any] = msgspec.field(default_factory=dict)  # results of I/O done before
    # Values checks derive from this request once and share (e.g. CEL activations): a memo
    # that lives as long as the evaluation of this one request.
    memo: dict[Hashable, Any] = msgspec.field(default_factory=dict)

    @property
    def old_object(self) -> JSONObject | None:
        """The old object of an UPDATE or DELETE (decoded on first read)."""
        return self.request.oldObject

    @property
    def metadata(self) -> JSONObject:
        value = self.object.get("metadata")
        return value if isinstance(value, dict) else {}


CheckRun = Callable[[EvaluationContext], Sequence[Violation]]
PodCheckRun = Callable[[PodView], Sequence[Violation]]


@dataclass(frozen=True, slots=True)
class CompiledCheck:
    """A check ready to run. `pod_only` checks are skipped for objects without a pod spec;
    `offline_only` checks (about manifests in Git) are skipped by the webhook."""

    run: CheckRun
    pod_only: bool = True
    # The same check on the pod view, for a pod check that reads nothing else (the Pod Security
    # controls): the engine calls it directly, one call less per rule and request.
    run_pod: PodCheckRun | None = None
    offline_only: bool = False
    # I/O the check needs answered before it runs (e.g. signature requests); the engine asks
    # a verifier and hands the answers to `run` in `EvaluationContext.lookups`.
    lookups: Callable[[EvaluationContext], Sequence[Hashable]] | None = None
    # JSON Patch operations /mutate applies for this rule (e.g. pinning a verified digest).
    patches: Callable[[EvaluationContext], Sequence[JSONObject]] | None = None
    # Data loaded ahead of requests and reloaded by the server (e.g. a DesiredStateKey: a
    # directory of rendered manifests), handed to `run` in `EvaluationContext.lookups`.
    preloads: tuple[Hashable, ...] = ()
    # Reads the labels of the request's namespace (a CEL rule using `namespaceObject`), so the
    # webhook looks them up for it, and unknown labels make it an error.
    reads_namespace_labels: bool = False
    # May read (or tell whether there is) the object's `metadata.managedFields`: the webhook
    # then decodes it, which it skips for policy sets none of whose checks does. True unless
    # the check is known to read other parts only.
    reads_managed_fields: bool = True
    # For a check that reads nothing of the object but its metadata and the pod spec: the keys
    # of the pod spec and of its containers it reads. When every check of a policy set says,
    # /validate decodes only those (webhook.projection). None: it may read anything.
    pod_reads: PodReads | None = None


P = TypeVar("P", bound=CheckParams)


@dataclass(frozen=True, slots=True)
class CompileInput(Generic[P]):
    params: P
    source_dir: Path  # directory of the policy file, for files the parameters name


@dataclass(frozen=True, slots=True)
class CheckDefinition(Generic[P]):
    """A built-in check: its name in policies, its parameter model and its compiler."""

    name: str
    params: type[P]
    compile: Callable[[CompileInput[P]], CompiledCheck]
    summary: str

    def build(self, raw: Mapping[str, Any], source_dir: Path) -> CompiledCheck:
        """Validate `raw` parameters and compile; raises pydantic.ValidationError or ValueError."""
        params = self.params.model_validate(dict(raw))
        return self.compile(CompileInput(params=params, source_dir=source_dir))


def pod_check(
    run: CheckRun, *, reads_managed_fields: bool = True, pod_reads: PodReads | None = None
) -> Callable[[CompileInput[NoParams]], CompiledCheck]:
    """The compiler of a parameterless pod check."""

    def compile_check(_: CompileInput[NoParams]) -> CompiledCheck:
        return CompiledCheck(
            run=run, reads_managed_fields=reads_managed_fields, pod_reads=pod_reads
        )

    return compile_check
