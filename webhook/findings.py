"""What evaluation produces: modes, results and findings. Outcomes are data; pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import msgspec


class Mode(StrEnum):
    """What a failed rule does: deny, admit with a warning, or admit and only record."""

    ENFORCE = "enforce"
    WARN = "warn"
    AUDIT = "audit"


class Result(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # the rule could not be evaluated; treated as a failure (fail closed)
    SKIP = "skip"  # the rule did not apply (e.g. a pod rule on an object without a pod spec)
    WAIVED = "waived"  # the rule failed, but a PolicyException waives it: never denies
    OVERRIDDEN = "overridden"  # it failed, but an authorized override (break-glass) admits it


@dataclass(frozen=True, slots=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name or '(unnamed)'}"


# Violations and findings are frozen msgspec Structs rather than frozen dataclasses: as
# immutable (the PASS and SKIP findings of a rule are shared by every request), and built
# in C, about ten times faster, which counts on a request with several violations.
class Violation(msgspec.Struct, frozen=True):
    """What a check reports: a message a person can act on, and where in the object."""

    message: str
    path: str = ""
    container: str | None = None
    error: bool = False  # the check could not decide (becomes Result.ERROR, which fails closed)
    # Admitted by an authorized override (break-glass): warned and recorded, never denied.
    overridden: bool = False


@dataclass(frozen=True, slots=True)
class Waiver:
    """The PolicyException that waived a failed rule: who owns it, why, and until when."""

    exception: str
    owner: str
    reason: str
    expires: date
    source: str  # file:line of the PolicyException document

    def describe(self) -> str:
        return (
            f"waived by exception {self.exception} (owner {self.owner}, "
            f"expires {self.expires.isoformat()}): {self.reason}"
        )


class Finding(msgspec.Struct, frozen=True, cache_hash=True):
    """One rule's result on one object (a failed rule yields one finding per violation).
    Its hash is kept: the shared PASS and SKIP findings are hashed in every request's count
    of rule results."""

    policy: str
    rule: str
    mode: Mode
    result: Result
    message: str = ""
    path: str = ""
    container: str | None = None
    waiver: Waiver | None = None  # set when result is WAIVED

    @property
    def failed(self) -> bool:
        return self.result in _FAILED


_FAILED = (Result.FAIL, Result.ERROR)


class Findings(list[Finding]):
    """A request's findings in order, as `evaluate` gives them, with `quiet`: whether the engine
    made every one a PASS or SKIP (then there is nothing to decide, and `decide` need not look
    at each). Any list of findings is decided the same; this one only decides quicker."""

    quiet: bool = False  # until the engine says
