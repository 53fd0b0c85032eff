"""The YAML schema of policy documents, as pydantic models that forbid unknown keys.

A document is Kubernetes-shaped (apiVersion, kind, metadata, spec). Rule parameters (`with`)
stay a plain mapping here: each check validates them against its own typed model when the
policy is compiled, so an error names the check and the parameter.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from webhook.findings import Mode
from webhook.quantity import QuantityError, parse_quantity

API_VERSION = "policy-webhook.dev/v1alpha1"
DESCRIPTION_ANNOTATION = "policy-webhook.dev/description"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Metadata(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=253)
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}


class LabelSelectorRequirement(Strict):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = []

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(Strict):
    """A Kubernetes label selector; an empty selector matches everything."""

    matchLabels: dict[str, str] = {}
    matchExpressions: list[LabelSelectorRequirement] = []


class Subjects(Strict):
    """Who makes the request. Service accounts are `namespace:name` (globs allowed)."""

    users: list[str] = []
    groups: list[str] = []
    serviceAccounts: list[str] = []


Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class MatchBlock(Strict):
    """Every key narrows; list items are alternatives; globs are allowed in names."""

    kinds: list[str] = []
    operations: list[Operation] = []
    namespaces: list[str] = []
    names: list[str] = []
    objectSelector: LabelSelector | None = None
    namespaceSelector: LabelSelector | None = None
    subjects: Subjects | None = None
    subresources: list[str] = []


class RuleSpec(Strict):
    """A built-in check with typed parameters (`check` + `with`) or a CEL `expression`."""

    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    check: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    expression: str | None = None
    message: str | None = None
    mode: Mode | None = None
    match: MatchBlock | None = None
    exclude: MatchBlock | None = None

    @model_validator(mode="after")
    def _check_or_expression(self) -> RuleSpec:
        if (self.check is None) == (self.expression is None):
            raise ValueError("a rule needs exactly one of `check` or `expression`")
        if self.expression is not None and self.with_:
            raise ValueError("`with` belongs to a built-in `check`, not to an `expression`")
        if self.expression is not None and not self.message:
            raise ValueError("an `expression` rule needs a `message` that says what to change")
        return self


class MutationDefaults(Strict):
    """Values set where missing: `pod` on the pod spec, `containers` on every container and
    init container (ephemeral containers may not set resources, so they are left alone)."""

    pod: dict[str, Any] = {}
    containers: dict[str, Any] = {}

    @model_validator(mode="after")
    def _not_empty(self) -> MutationDefaults:
        if not self.pod and not self.containers:
            raise ValueError("defaults need `pod` or `containers` values")
        resources = self.containers.get("resources", {})
        if not isinstance(resources, dict):
            raise ValueError("containers.resources must be a mapping")
        parsed: dict[str, dict[str, Decimal]] = {}
        for section in ("requests", "limits"):
            values = resources.get(section) or {}
            if not isinstance(values, dict):
                raise ValueError(f"containers.resources.{section} must be a mapping")
            for name, value in values.items():
                try:
                    quantity = parse_quantity(value if isinstance(value, str | int | float) else "")
                except QuantityError as error:
                    raise ValueError(f"containers.resources.{section}.{name}: {error}") from None
                parsed.setdefault(section, {})[name] = quantity
        for name, request in parsed.get("requests", {}).items():
            limit = parsed.get("limits", {}).get(name)
            if limit is not None and request > limit:
                raise ValueError(
                    f"containers.resources: the default {name} request is above its limit"
                )
        return self


class MutationSpec(Strict):
    """Defaults set by /mutate where a field is missing; never overwrites what the author set."""

    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    defaults: MutationDefaults


class PolicySpec(Strict):
    mode: Mode = Mode.ENFORCE
    match: MatchBlock = MatchBlock()
    exclude: MatchBlock | None = None
    params: dict[str, Any] = {}
    rules: list[RuleSpec] = []
    mutate: list[MutationSpec] = []

    @model_validator(mode="after")
    def _not_empty(self) -> PolicySpec:
        if not self.rules and not self.mutate:
            raise ValueError("a policy needs at least one rule (or mutation); empty is invalid")
        names = [rule.name for rule in self.rules] + [m.name for m in self.mutate]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule names: {', '.join(duplicates)}")
        return self


class PolicyDocument(Strict):
    apiVersion: Literal["policy-webhook.dev/v1alpha1"]
    kind: Literal["Policy"]
    metadata: Metadata
    spec: PolicySpec

    @property
    def description(self) -> str:
        return self.metadata.annotations.get(DESCRIPTION_ANNOTATION, "")


class ExceptionTarget(Strict):
    """A policy and the rules of it that an exception waives (no rules: every rule)."""

    name: str = Field(pattern=NAME_PATTERN, max_length=253)
    rules: list[str] = []


class ExceptionSpec(Strict):
    """Which rules are waived for which objects, who owns the waiver, why, and until when."""

    policies: list[ExceptionTarget] = Field(min_length=1)
    match: MatchBlock
    owner: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")

    @field_validator("expires", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    @field_validator("expires")
    @classmethod
    def _real_date(cls, value: str) -> str:
        date.fromisoformat(value)  # ValueError for 2027-02-30
        return value

    @property
    def expiry(self) -> date:
        return date.fromisoformat(self.expires)

    @field_validator("match")
    @classmethod
    def _names_its_objects(cls, match: MatchBlock) -> MatchBlock:
        if not (
            match.kinds
            or match.namespaces
            or match.names
            or match.objectSelector
            or match.namespaceSelector
        ):
            raise ValueError(
                "an exception must name the objects it covers "
                "(kinds, namespaces, names or selectors)"
            )
        if match.objectSelector is not None and not (match.namespaces or match.names):
            # Otherwise any object carrying the labels would exempt itself.
            raise ValueError(
                "objectSelector must come with namespaces or names: labels alone would "
                "let any object exempt itself by carrying them"
            )
        return match


class PolicyExceptionDocument(Strict):
    apiVersion: Literal["policy-webhook.dev/v1alpha1"]
    kind: Literal["PolicyException"]
    metadata: Metadata
    spec: ExceptionSpec
