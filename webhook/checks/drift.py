"""No manual drift: objects managed from Git change only through Git; pure.

`gitOwnership` admits writes to objects that carry GitOps markers only from the controllers
that apply Git (and Kubernetes' own controllers); `desiredState` admits a change by anyone
else only when the result equals what Git declares. The desired state comes in through
`EvaluationContext.lookups` under a `DesiredStateKey` (loaded by webhook.desired.store).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec
from pydantic import Field, field_validator, model_validator

from webhook.checks.base import (
    CheckDefinition,
    CheckParams,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
)
from webhook.desired.compare import Difference, differences
from webhook.desired.snapshot import (
    DesiredObject,
    DesiredSnapshot,
    DesiredStateKey,
    DesiredStateUnavailable,
    ObjectKey,
    api_version_of,
)
from webhook.findings import ObjectRef, Violation
from webhook.gitops.fields import (
    MISSING,
    SERVER_FIELD_SET,
    FieldSet,
    parse_pointer,
    pointer,
    value_at,
)
from webhook.gitops.identities import Subjects, Writers
from webhook.gitops.markers import ARGOCD_INSTANCE_LABEL, ExtraMarker, MarkerSet
from webhook.gitops.ownership import ownership_violations, scale_violation
from webhook.review import UserInfo

MAX_DIFFERENCES = 20
MAX_VALUE_CHARS = 80


class Identities(CheckParams):
    """Subjects as in a match block: user names, groups, service accounts (`namespace:name`)."""

    serviceAccounts: list[str] = []
    users: list[str] = []
    groups: list[str] = []

    def subjects(self) -> Subjects:
        return Subjects.build(
            users=self.users, groups=self.groups, service_accounts=self.serviceAccounts
        )


class GitOpsParams(CheckParams):
    controllers: Identities
    builtinControllers: bool = True
    writableFields: list[str] = []
    breakGlass: Identities | None = None

    @field_validator("writableFields")
    @classmethod
    def _pointers(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_pointer(text)
        return value

    @model_validator(mode="after")
    def _controllers_named(self) -> GitOpsParams:
        controllers = self.controllers
        if not (controllers.serviceAccounts or controllers.users or controllers.groups):
            raise ValueError("controllers must name the identities that apply Git")
        glass = self.breakGlass
        if glass is not None and not (glass.serviceAccounts or glass.users or glass.groups):
            raise ValueError("breakGlass must name at least one user, group or service account")
        return self

    def writers(self) -> Writers:
        glass = self.breakGlass.subjects() if self.breakGlass else Subjects.build()
        return Writers(
            controllers=self.controllers.subjects(),
            builtin=self.builtinControllers,
            break_glass=glass,
        )


class ArgoCDParams(CheckParams):
    trackingAnnotation: bool = True
    instanceLabel: str = ARGOCD_INSTANCE_LABEL  # "" when Argo CD does not track by label


class MarkerParams(CheckParams):
    label: str | None = None
    annotation: str | None = None
    value: str = "*"
    source: str = Field(min_length=1)  # names the Git source; `{value}` is the marker's value

    @model_validator(mode="after")
    def _one_key(self) -> MarkerParams:
        if (self.label is None) == (self.annotation is None):
            raise ValueError("a marker names exactly one of `label` or `annotation`")
        return self

    def marker(self) -> ExtraMarker:
        if self.label is not None:
            return ExtraMarker.build(
                where="label", key=self.label, value=self.value, source=self.source
            )
        assert self.annotation is not None
        return ExtraMarker.build(
            where="annotation", key=self.annotation, value=self.value, source=self.source
        )


class GitOwnershipParams(GitOpsParams):
    argoCD: ArgoCDParams = ArgoCDParams()
    flux: bool = True
    markers: list[MarkerParams] = []
    scale: Literal["allow", "deny"] = "allow"  # a Scale request does not show the markers


class DesiredStateParams(GitOpsParams):
    path: str = Field(min_length=1)  # directory of rendered manifests; relative to the policy


def break_glass(
    violations: Sequence[Violation], writers: Writers, user: UserInfo
) -> list[Violation]:
    """The violations, admitted as overridden ones when the user may break the glass."""
    if not violations:
        return []
    reason = writers.break_glass_reason(user)
    if reason is None:
        return list(violations)
    return [
        msgspec.structs.replace(
            item, message=f"break-glass change by {reason}: {item.message}", overridden=True
        )
        for item in violations
    ]


def compile_ownership(source: CompileInput[GitOwnershipParams]) -> CompiledCheck:
    params = source.params
    writers = params.writers()
    markers = MarkerSet(
        argocd_tracking=params.argoCD.trackingAnnotation,
        instance_label=params.argoCD.instanceLabel,
        flux=params.flux,
        extra=tuple(item.marker() for item in params.markers),
    )
    writable = FieldSet.parse(params.writableFields)
    skip = SERVER_FIELD_SET + writable
    scale_writable = params.scale == "allow" or writable.covers(("spec", "replicas"))

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        request = ctx.request
        if ctx.offline or request.subResource == "status":
            return []  # in `check` the manifests are Git; status is never Git's
        if writers.is_controller(request.userInfo):
            return []
        if ctx.kind == "Scale" and ctx.group == "autoscaling":
            found = [] if scale_writable else [scale_violation(request)]
        else:
            found = ownership_violations(
                request, obj=ctx.object, group=ctx.group, kind=ctx.kind, markers=markers, skip=skip
            )
        return break_glass(found, writers, request.userInfo)

    return CompiledCheck(run=run, pod_only=False)


def compile_desired_state(source: CompileInput[DesiredStateParams]) -> CompiledCheck:
    params = source.params
    writers = params.writers()
    skip = SERVER_FIELD_SET + FieldSet.parse(params.writableFields)
    key = DesiredStateKey(str(Path(source.source_dir, params.path).absolute()))

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        request = ctx.request
        if ctx.offline or request.operation not in ("CREATE", "UPDATE"):
            return []
        if request.subResource not in ("", "scale") or writers.is_controller(request.userInfo):
            return []
        state = ctx.lookups.get(key)
        if not isinstance(state, DesiredSnapshot):
            reason = (
                state.reason
                if isinstance(state, DesiredStateUnavailable)
                else "this process has not loaded it"
            )
            message = f"cannot compare with the desired state in {key.path}: {reason}"
            found = [Violation(message, error=True)]
        else:
            found = _desired_violations(ctx, state, skip)
        return break_glass(found, writers, request.userInfo)

    return CompiledCheck(run=run, pod_only=False, preloads=(key,))


def _desired_violations(
    ctx: EvaluationContext, state: DesiredSnapshot, skip: FieldSet
) -> list[Violation]:
    request = ctx.request
    name = request.name or str(ctx.metadata.get("name") or "")
    if request.subResource == "scale":
        resource = request.resource
        desired = state.by_resource(
            group=resource.group, resource=resource.resource, namespace=request.namespace, name=name
        )
        if desired is None:
            return []
        spec = desired.object.get("spec")
        replicas = spec.get("replicas", MISSING) if isinstance(spec, dict) else MISSING
        wanted: dict[str, Any] = {} if replicas is MISSING else {"spec": {"replicas": replicas}}
    else:
        desired = state.get(ObjectKey(ctx.group, ctx.kind, request.namespace, name))
        if desired is None:
            return []
        version = api_version_of(desired.object)
        if version and request.kind.version and version != request.kind.version:
            return [
                Violation(
                    f"cannot compare {_ref(desired)} with Git: Git declares version {version} "
                    f"({desired.where}), the API server sent {request.kind.version}; render Git "
                    "in the version the webhook is registered for",
                    error=True,
                )
            ]
        wanted = desired.object
    found = differences(wanted, ctx.object, skip=skip)
    violations = [_difference(item, desired, request.oldObject) for item in found[:MAX_DIFFERENCES]]
    if len(found) > MAX_DIFFERENCES:
        more = found[MAX_DIFFERENCES:]
        paths = ", ".join(pointer(item.path) for item in more[:MAX_DIFFERENCES])
        violations.append(
            Violation(f"{_ref(desired)}: {len(more)} more differences from Git at {paths}")
        )
    return violations


def _ref(desired: DesiredObject) -> str:
    key = ObjectKey.of(desired.object)
    assert key is not None
    return str(ObjectRef("", key.kind, key.namespace, key.name))


def _show(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _difference(item: Difference, desired: DesiredObject, old: dict[str, Any] | None) -> Violation:
    path = pointer(item.path) or "/"
    if item.item:
        detail = f"Git declares the item {item.item} of {path}, the request has none"
    else:
        detail = f"Git declares {_show(item.git)}, the request sets {_show(item.requested)}"
    drifted = old is not None and not item.item and value_at(old, item.path) == item.requested
    note = " (the object already differed before this request)" if drifted else ""
    return Violation(
        f"{_ref(desired)} differs from Git at {path}: {detail}{note}; change it in Git "
        f"({desired.where}) instead",
        path=path,
    )


DEFINITIONS: list[CheckDefinition[Any]] = [
    CheckDefinition(
        name="gitOwnership",
        params=GitOwnershipParams,
        compile=compile_ownership,
        summary="Objects with Argo CD or Flux markers change only through their controllers; "
        "others are denied with the Git source to change instead.",
    ),
    CheckDefinition(
        name="desiredState",
        params=DesiredStateParams,
        compile=compile_desired_state,
        summary="A change by anyone but the controllers must equal what Git declares "
        "(a directory of rendered manifests) in the fields Git sets.",
    ),
]
