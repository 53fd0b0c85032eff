"""The YAML schema of a policy test suite (kind PolicyTest), as pydantic models.

Unknown keys are errors, like in policies. A case gives the object under test (inline, in a
file, or as a whole AdmissionReview) and what each named policy and rule must conclude.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from webhook.policy.model import NAME_PATTERN, Metadata, Operation

ExpectedResult = Literal["pass", "fail", "warn", "skip", "error", "waived", "overridden"]
FAILING_RESULTS = ("fail", "warn", "error", "waived", "overridden")
Via = Literal["check", "webhook"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expectation(Strict):
    """What one policy (and rule, when named) concludes about the case's object."""

    policy: str = Field(pattern=NAME_PATTERN)
    rule: str | None = Field(default=None, pattern=NAME_PATTERN)
    result: ExpectedResult
    message: str | None = Field(default=None, min_length=1)  # part of a finding's message
    paths: list[str] | None = None  # exactly the field paths of the failing findings

    @model_validator(mode="after")
    def _details_need_a_failure(self) -> Expectation:
        if (self.message is not None or self.paths is not None) and (
            self.result not in FAILING_RESULTS
        ):
            raise ValueError(f"`message` and `paths` need a result of {', '.join(FAILING_RESULTS)}")
        for path in self.paths or ():
            if not path.startswith("/"):
                raise ValueError(f"path {path!r} is not a JSON Pointer (starts with /)")
        return self

    @property
    def label(self) -> str:
        return f"{self.policy}/{self.rule}" if self.rule else self.policy


class UserInfoSpec(Strict):
    username: str = Field(min_length=1)
    uid: str = ""
    groups: list[str] = []
    extra: dict[str, list[str]] = {}


class Case(Strict):
    """One object (or AdmissionReview) and the verdicts expected for it."""

    name: str = Field(min_length=1, max_length=200)
    object: dict[str, Any] | None = None
    file: str | None = Field(default=None, min_length=1)
    review: str | None = Field(default=None, min_length=1)
    via: Via | None = None
    operation: Operation | None = None
    oldObject: dict[str, Any] | None = None
    userInfo: UserInfoSpec | None = None
    namespaceLabels: dict[str, str] | None = None
    expect: list[Expectation] = []
    allowed: bool | None = None
    patched: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_source_and_something_to_check(self) -> Case:
        sources = [key for key in ("object", "file", "review") if getattr(self, key) is not None]
        if len(sources) != 1:
            raise ValueError("a case needs exactly one of `object`, `file` or `review`")
        if self.review is not None:
            given = [k for k in ("operation", "oldObject", "userInfo") if getattr(self, k)]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: a `review` file already carries the operation, "
                    "the old object and the user"
                )
        if self.operation == "DELETE" and self.oldObject is not None:
            raise ValueError(
                "a DELETE case gives the deleted object as `object` or `file` (it is sent as "
                "the request's oldObject), not as `oldObject`"
            )
        if not self.expect and self.allowed is None and self.patched is None:
            raise ValueError("a case checks nothing: give `expect`, `allowed` or `patched`")
        return self


class SuiteSpec(Strict):
    policies: list[str] = Field(default_factory=lambda: [".."], min_length=1)
    today: date | None = None  # the date PolicyExceptions are judged at (default: today, UTC)
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_case_names(self) -> SuiteSpec:
        names = [case.name for case in self.cases]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate case names: {', '.join(duplicates)}")
        return self


class PolicyTestDocument(Strict):
    apiVersion: Literal["policy-webhook.dev/v1alpha1"]
    kind: Literal["PolicyTest"]
    metadata: Metadata
    spec: SuiteSpec
