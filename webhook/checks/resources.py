"""Resource requests and limits: required names, maximums and limit/request ratios; pure."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import Field, field_validator

from webhook.checks.base import (
    CheckDefinition,
    CheckParams,
    CompiledCheck,
    CompileInput,
    EvaluationContext,
)
from webhook.findings import Violation
from webhook.quantity import QuantityError, parse_quantity

# Ephemeral containers may not set resources (the API server rejects it), so they are not checked.
CHECKED_LISTS = ("containers", "initContainers")


class ResourcesParams(CheckParams):
    requests: list[str] = Field(default_factory=lambda: ["cpu", "memory"])
    limits: list[str] = Field(default_factory=lambda: ["memory"])
    max: dict[str, str] = {}
    maxLimitRequestRatio: dict[str, str] = {}

    @field_validator("max", "maxLimitRequestRatio", mode="before")
    @classmethod
    def _quantities(cls, value: object) -> object:
        if isinstance(value, dict):
            for key, item in value.items():
                try:
                    parse_quantity(item if isinstance(item, str | int | float) else str(item))
                except QuantityError as error:
                    raise ValueError(f"{key}: {error}") from None
            return {key: str(item) for key, item in value.items()}
        return value


def compile_resources(source: CompileInput[ResourcesParams]) -> CompiledCheck:
    params = source.params
    maximums = {name: (text, parse_quantity(text)) for name, text in params.max.items()}
    ratios = {name: parse_quantity(text) for name, text in params.maxLimitRequestRatio.items()}

    def run(ctx: EvaluationContext) -> Sequence[Violation]:
        assert ctx.pod is not None
        violations: list[Violation] = []
        for container in ctx.pod.containers:
            if container.list_name not in CHECKED_LISTS:
                continue
            resources = container.spec.get("resources")
            resources = resources if isinstance(resources, dict) else {}
            sections = {}
            for section in ("requests", "limits"):
                value = resources.get(section)
                sections[section] = value if isinstance(value, dict) else {}
            for section, required in (("requests", params.requests), ("limits", params.limits)):
                for name in required:
                    if name not in sections[section]:
                        violations.append(
                            Violation(
                                message=f"{container.label} has no {section[:-1]} for {name}: "
                                f"set resources.{section}.{name}",
                                path=container.field_path("resources", section, name),
                                container=container.name,
                            )
                        )
            amounts = {
                section: _parse_all(values, container.label, section, container.field_path)
                for section, values in sections.items()
            }
            for section in ("requests", "limits"):
                parsed, errors = amounts[section]
                violations.extend(
                    Violation(message=message, path=path, container=container.name)
                    for message, path in errors
                )
                for name, (text, limit) in maximums.items():
                    if name in parsed and parsed[name] > limit:
                        violations.append(
                            Violation(
                                message=f"{container.label} {section[:-1]}s {name} "
                                f"{sections[section][name]}, more than the maximum {text}",
                                path=container.field_path("resources", section, name),
                                container=container.name,
                            )
                        )
            requests, limits = amounts["requests"][0], amounts["limits"][0]
            for name, ratio in ratios.items():
                if name in limits and name in requests and requests[name] > 0:
                    actual = limits[name] / requests[name]
                    if actual > ratio:
                        violations.append(
                            Violation(
                                message=f"{container.label} {name} limit is {actual:.4g}x its "
                                f"request, more than the maximum ratio {ratio}: raise the "
                                "request or lower the limit",
                                path=container.field_path("resources", "limits", name),
                                container=container.name,
                            )
                        )
        return violations

    return CompiledCheck(run=run)


def _parse_all(
    values: dict[str, object], label: str, section: str, field_path: object
) -> tuple[dict[str, Decimal], list[tuple[str, str]]]:
    parsed: dict[str, Decimal] = {}
    errors: list[tuple[str, str]] = []
    for name, value in values.items():
        if not isinstance(value, str | int | float):
            value = str(value)
        try:
            parsed[name] = parse_quantity(value)
        except QuantityError:
            path = field_path("resources", section, name) if callable(field_path) else ""
            errors.append((f"{label} {section}.{name} {value!r} is not a valid quantity", path))
    return parsed, errors


DEFINITIONS: list[CheckDefinition[ResourcesParams]] = [
    CheckDefinition(
        name="resources",
        params=ResourcesParams,
        compile=compile_resources,
        summary="Containers declare resource requests and limits, within maximums and ratios.",
    ),
]
