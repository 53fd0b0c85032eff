"""Resource requests and limits: required names, maximums and limit/request ratios; pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

import msgspec
from pydantic import Field, field_validator, model_validator

from webhook.checks.base import (
    CheckDefinition,
    CheckParams,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
)
from webhook.findings import Violation
from webhook.projection import pod_reads
from webhook.quantity import QuantityError, parse_quantity
from webhook.workload import Container, JSONObject

# Ephemeral containers may not set resources (the API server rejects it), so they are not checked.
CHECKED_LISTS = ("containers", "initContainers")
# Names a container may request: the standard ones, hugepages, and extended resources, which
# carry a domain (`nvidia.com/gpu`). Anything else is a typo that would fail every container.
_RESOURCE_NAME = re.compile(
    r"^(cpu|memory|ephemeral-storage|hugepages-[0-9]+[KMGTPE]i"
    r"|[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$"
)
_SCALARS = (str, int, float)  # what parse_quantity reads; anything else is read as its text
_EMPTY: JSONObject = {}  # a missing section; never written to
_SECTIONS = object()  # the key of the parsed sections in the evaluation's memo
STANDARD_NAMES = "cpu, memory, ephemeral-storage, hugepages-<size> or a domain/name"


def _valid_name(name: str) -> str:
    if not _RESOURCE_NAME.match(name):
        raise ValueError(f"{name!r} is not a resource name ({STANDARD_NAMES})")
    return name


class ResourcesParams(CheckParams):
    """Required requests and limits by resource name, optional maximums and limit/request ratios."""

    requests: list[str] = Field(default_factory=lambda: ["cpu", "memory"])
    limits: list[str] = Field(default_factory=lambda: ["memory"])
    max: dict[str, str] = {}
    maxLimitRequestRatio: dict[str, str] = {}

    @field_validator("requests", "limits")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_valid_name(name) for name in value))

    @field_validator("max", "maxLimitRequestRatio", mode="before")
    @classmethod
    def _quantities(cls, value: object) -> object:
        if isinstance(value, dict):
            for key, item in value.items():
                _valid_name(str(key))
                try:
                    amount = parse_quantity(
                        item if isinstance(item, str | int | float) else str(item)
                    )
                except QuantityError as error:
                    raise ValueError(f"{key}: {error}") from None
                if amount <= 0:
                    raise ValueError(f"{key}: {item!r} must be greater than zero")
            return {key: str(item) for key, item in value.items()}
        return value

    @field_validator("maxLimitRequestRatio")
    @classmethod
    def _ratios(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if parse_quantity(item) < 1:
                raise ValueError(
                    f"{key}: a limit is never below its request, so a ratio {item} "
                    "below 1 can never be met"
                )
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ResourcesParams:
        if not (self.requests or self.limits or self.max or self.maxLimitRequestRatio):
            raise ValueError("nothing to check: name requests, limits, max or maxLimitRequestRatio")
        return self


def compile_resources(source: CompileInput[ResourcesParams]) -> CompiledCheck:
    params = source.params
    maximums = {name: (text, parse_quantity(text)) for name, text in params.max.items()}
    ratios = {name: parse_quantity(text) for name, text in params.maxLimitRequestRatio.items()}
    # Read once: an attribute of a pydantic model is read through its __getattr__ hook.
    required_requests, required_limits = tuple(params.requests), tuple(params.limits)

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        violations: list[Violation] = []
        for parts in container_sections(ctx):
            container, requests, limits = parts.container, parts.requests, parts.limits
            for name in required_requests:
                if name not in requests:
                    violations.append(_missing(container, "requests", name))
            for name in required_limits:
                if name not in limits:
                    violations.append(_missing(container, "limits", name))
            # (each step only when it may find something: most containers pass them all)
            if parts.request_errors:
                violations.extend(parts.request_errors)
            if maximums:
                _above_maximums(
                    container, "requests", requests, parts.requested, maximums, violations
                )
            if parts.limit_errors:
                violations.extend(parts.limit_errors)
            if maximums:
                _above_maximums(container, "limits", limits, parts.limited, maximums, violations)
            requested, limited = parts.requested, parts.limited
            for name, ratio in ratios.items():
                # A missing request defaults to the limit (ratio 1); a zero request is unbounded.
                if name not in limited or name not in requested or limited[name] <= 0:
                    continue
                if requested[name] <= 0:
                    actual_text = "unbounded (its request is 0)"
                elif limited[name] / requested[name] > ratio:
                    actual_text = f"{_ratio_text(limited[name] / requested[name])}x its request"
                else:
                    continue
                violations.append(
                    _violation(
                        container,
                        "limits",
                        name,
                        f"{name} limit is {actual_text}, more than the maximum ratio {ratio}: "
                        "raise the request or lower the limit",
                    )
                )
        return violations

    return CompiledCheck(
        run=run, reads_managed_fields=False, pod_reads=pod_reads(container=("resources",))
    )


class Sections(msgspec.Struct, frozen=True):
    """A container's requests and limits as the webhook judges them, parsed once per request
    for every resources rule (a value that is no quantity is an error of each rule)."""

    container: Container
    requests: JSONObject
    limits: JSONObject
    requested: dict[str, Decimal]
    limited: dict[str, Decimal]
    request_errors: tuple[Violation, ...]
    limit_errors: tuple[Violation, ...]


def container_sections(ctx: EvaluationContext) -> list[Sections]:
    """The sections of every container that may set resources (read once per request)."""
    found: list[Sections] | None = ctx.memo.get(_SECTIONS)
    if found is not None:
        return found
    assert ctx.pod is not None
    found = []
    defaults_requests = ctx.kind == "Pod" and ctx.group == ""
    for container in ctx.pod.containers:
        if container.list_name not in CHECKED_LISTS:
            continue
        # (the sections read in place: this runs for every container of every request)
        resources = container.spec.get("resources")
        requests = limits = _EMPTY
        if isinstance(resources, dict):
            found_requests, found_limits = resources.get("requests"), resources.get("limits")
            if isinstance(found_requests, dict):
                requests = found_requests
            if isinstance(found_limits, dict):
                limits = found_limits
        if defaults_requests and limits:
            # The API server defaults a Pod's missing requests to its limits before
            # admission (not a template's): judge what the webhook will see.
            requests = {**limits, **requests}
        requested, request_errors = _parse(container, "requests", requests)
        limited, limit_errors = _parse(container, "limits", limits)
        found.append(
            Sections(container, requests, limits, requested, limited, request_errors, limit_errors)
        )
    ctx.memo[_SECTIONS] = found
    return found


def _parse(
    container: Container, section: str, values: JSONObject
) -> tuple[dict[str, Decimal], tuple[Violation, ...]]:
    """The quantities of one section, and a violation for each value that is not one."""
    try:  # most sections hold quantities only
        quantities = {
            name: parse_quantity(value if isinstance(value, _SCALARS) else str(value))
            for name, value in values.items()
        }
    except QuantityError:
        pass
    else:
        return quantities, ()
    parsed: dict[str, Decimal] = {}
    errors: list[Violation] = []
    for name, value in values.items():
        try:
            parsed[name] = parse_quantity(value if isinstance(value, _SCALARS) else str(value))
        except QuantityError:
            shown = value if isinstance(value, _SCALARS) else str(value)
            errors.append(
                _violation(
                    container, section, name, f"{section}.{name} {shown!r} is not a valid quantity"
                )
            )
    return parsed, tuple(errors)


def _above_maximums(
    container: Container,
    section: str,
    values: JSONObject,
    parsed: dict[str, Decimal],
    maximums: dict[str, tuple[str, Decimal]],
    violations: list[Violation],
) -> None:
    """Append a violation for each quantity of a section above its maximum."""
    for name, (text, limit) in maximums.items():
        if name in parsed and parsed[name] > limit:
            violations.append(
                _violation(
                    container,
                    section,
                    name,
                    f"{section[:-1]}s {name} {values[name]}, more than the maximum {text}",
                )
            )


def _missing(container: Container, section: str, name: str) -> Violation:
    problem = f"has no {section[:-1]} for {name}: set resources.{section}.{name}"
    return _violation(container, section, name, problem)


def _violation(container: Container, section: str, name: str, problem: str) -> Violation:
    """`<container label> <problem>`, at the container's `resources.<section>.<name>`."""
    return Violation(
        message=f"{container.label} {problem}",
        path=container.field_path("resources", section, name),
        container=container.name,
    )


def _ratio_text(ratio: Decimal) -> str:
    """`10`, `2.5`, `6.667`: no exponent notation in a message meant for people."""
    return f"{float(ratio):.4g}" if ratio < 1000 else f"{ratio:.0f}"


DEFINITIONS: list[CheckDefinition[ResourcesParams]] = [
    CheckDefinition(
        name="resources",
        params=ResourcesParams,
        compile=compile_resources,
        summary="Containers declare resource requests and limits, within maximums and ratios.",
    ),
]
